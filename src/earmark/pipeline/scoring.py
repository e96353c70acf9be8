"""A finished run's clip probabilities for labeled clips: what audits and filters rank.

Both functions check that the prepared features were made with the run's front-end and that the
labels have the run's classes, then score
through the loaded run (:meth:`earmark.runs.LoadedRun.score`), which holds the run's own
prediction settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from earmark.data.labels import Labels
from earmark.features.frontend import FrontendConfig
from earmark.runs import LoadedRun, load_run
from earmark.spec import TaggingSpec
from earmark.training.config import DataConfig
from earmark.training.selection import open_prepared, select_splits

__all__ = ["Split", "score_run", "score_with_run"]

Split = Literal["train", "valid", "test", "all"]


def score_run(
    run_dir: str | Path, *, split: Split = "train", checkpoint: str = "best"
) -> tuple[Labels, np.ndarray]:
    """The labels of ``split`` of a run's data and the run's clip probabilities for them.

    The split is rebuilt from the run's own config (folds, sources, seeded held-out share), so
    ``train`` is exactly the clips the run trained on, with the labels it was given (before any
    strategy changed them). ``all`` scores every clip of the prepared data.

    Returns
    -------
    labels : Labels of the split's clips.
    scores : (clips, classes) float32 probabilities, rows in ``labels``' clip order.

    """
    run = load_run(run_dir, checkpoint=checkpoint)
    stores, labels = open_prepared(run.config.data)
    _check(run, labels, stores.frontend, what=f"the prepared data of run {run_dir}")
    if split == "all":
        part = labels
    else:
        splits = select_splits(labels, run.config.data, seed=run.config.seed)
        if split not in splits:
            raise ValueError(f"run {run_dir} has no {split} split; it has {', '.join(splits)}")
        part = splits[split]
    return part, run.score(stores[c] for c in part.clip_ids.tolist())


def score_with_run(run_dir: str | Path, prepared: str | Path, labels: Labels) -> np.ndarray:
    """The ``(clips, classes)`` probabilities of a finished run for ``labels``' clips.

    The features come from the prepared directory ``prepared``; ``labels`` only gives the clips
    (in its row order).
    """
    run = load_run(run_dir)
    stores, _ = open_prepared(DataConfig(prepared=str(prepared)))
    _check(run, labels, stores.frontend, what=f"run {run_dir}")
    return run.score(stores[c] for c in labels.clip_ids.tolist())


def _check(run: LoadedRun, labels: Labels, frontend: FrontendConfig, *, what: str) -> None:
    """Raise :class:`~earmark.spec.SpecMismatchError` unless classes and front-end are the run's."""
    run.spec.check_compatible(TaggingSpec(labels.class_names, frontend, run.spec.segment_frames), what=what)
