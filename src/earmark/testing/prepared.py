"""A small synthetic prepared directory: learnable features, multi-label labels, folds.

Each class owns a few feature bands; a clip positive for a class carries energy in them, so a
model can learn the task in a few steps. Used by the training and strategy tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from earmark.data.labels import Labels
from earmark.data.table import write_labels
from earmark.features.logmel import LogMelConfig
from earmark.features.store import StoreWriter

__all__ = ["make_prepared"]


def make_prepared(
    directory: str | Path,
    *,
    num_clips: int = 60,
    num_classes: int = 4,
    n_mels: int = 16,
    min_frames: int = 20,
    max_frames: int = 60,
    folds: int = 3,
    max_positives: int = 2,
    seed: int = 0,
) -> Path:
    """Write ``labels.csv`` and ``features/all`` under ``directory``; returns the directory."""
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    config = LogMelConfig(n_mels=n_mels)
    bands = np.array_split(np.arange(n_mels), num_classes)
    positive = np.zeros((num_clips, num_classes), dtype=bool)
    writer = StoreWriter(directory / "features" / "all", config, n_mels)
    clip_ids = [f"clip{i:04d}" for i in range(num_clips)]
    items = []
    for i in range(num_clips):
        count = int(rng.integers(1, max_positives + 1))
        positive[i, rng.choice(num_classes, size=count, replace=False)] = True
        frames = rng.standard_normal((int(rng.integers(min_frames, max_frames + 1)), n_mels)) * 0.5
        for k in np.flatnonzero(positive[i]):
            frames[:, bands[k]] += 2.0
        items.append((clip_ids[i], frames.astype(np.float32), frames.shape[0] / 50.0))
    writer.append(items)
    writer.finalize()
    labels = Labels(
        clip_ids=np.array(clip_ids, dtype=object),
        class_names=tuple(f"class{k}" for k in range(num_classes)),
        positive=positive,
        annotated=np.ones_like(positive),
        source=np.array(["curated"] * num_clips, dtype=object),
        fold=np.arange(num_clips) % folds + 1,
        duration_seconds=np.array([item[2] for item in items]),
    )
    write_labels(labels, directory / "labels.csv")
    return directory
