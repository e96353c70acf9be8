"""Which clips train, validate and test: by folds, by source, or a seeded held-out share."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from earmark.data.labels import Labels
from earmark.data.table import read_labels
from earmark.features.store import FeatureStore
from earmark.training.config import DataConfig
from earmark.training.data import StoreSet

__all__ = ["open_prepared", "select_splits"]


def open_prepared(data: DataConfig) -> tuple[StoreSet, Labels]:
    """The feature stores of ``data.prepared`` and its label table (or ``data.labels``)."""
    prepared = Path(data.prepared)
    features = prepared / "features"
    store_dirs = (
        sorted(p for p in features.iterdir() if (p / "store.json").exists()) if features.is_dir() else []
    )
    if not store_dirs:
        raise FileNotFoundError(f"{prepared} holds no finished feature store; run `earmark prepare` first")
    labels = read_labels(data.labels or prepared / "labels.csv")
    return StoreSet([FeatureStore(d) for d in store_dirs]), labels


def select_splits(labels: Labels, data: DataConfig, *, seed: int) -> dict[str, Labels]:
    """``{"train": ..., "valid": ..., "test": ...}`` (valid / test only when asked for).

    Train takes ``train_folds`` (or every fold not used for valid / test), restricted to
    ``train_sources`` when given. Without valid folds, ``valid_fraction`` of the training clips
    is held out with a seeded permutation. An empty selection raises, naming it.
    """
    splits: dict[str, Labels] = {}
    held = set(data.valid_folds) | set(data.test_folds)
    if data.train_folds:
        train = labels.select(folds=data.train_folds)
    elif held:
        train = labels.select(exclude_folds=sorted(held & set(labels.fold.tolist())))
    else:
        train = labels
    if data.train_sources:
        train = train.select(sources=data.train_sources)
    if data.valid_folds:
        splits["valid"] = labels.select(folds=data.valid_folds)
    elif data.valid_fraction:
        order = np.random.default_rng(seed).permutation(train.num_clips)
        count = max(1, round(data.valid_fraction * train.num_clips))
        splits["valid"] = train.take(np.sort(order[:count]))
        train = train.take(np.sort(order[count:]))
    if data.test_folds:
        splits["test"] = labels.select(folds=data.test_folds)
    splits["train"] = train
    for name, part in splits.items():
        if part.num_clips == 0:
            raise ValueError(f"the {name} selection is empty; check data.*_folds and data.train_sources")
    return {k: splits[k] for k in ("train", "valid", "test") if k in splits}
