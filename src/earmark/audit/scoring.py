"""A finished run's scores on one of its splits: what the audits rank."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from earmark.data.labels import Labels
from earmark.spec import TaggingSpec

__all__ = ["score_run"]

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
    from earmark.runs import load_run
    from earmark.training.selection import open_prepared, select_splits

    run = load_run(run_dir, checkpoint=checkpoint)
    stores, labels = open_prepared(run.config.data)
    store_spec = TaggingSpec(labels.class_names, stores.frontend, run.spec.segment_frames)
    run.spec.check_compatible(store_spec, what=f"the prepared data of run {run_dir}")
    if split == "all":
        part = labels
    else:
        splits = select_splits(labels, run.config.data, seed=run.config.seed)
        if split not in splits:
            raise ValueError(f"run {run_dir} has no {split} split; it has {', '.join(splits)}")
        part = splits[split]
    return part, run.score(stores[c] for c in part.clip_ids.tolist())
