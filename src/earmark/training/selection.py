"""Which clips train, validate and test: by folds, by source, or a seeded held-out share."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from earmark.data.groups import group_keys
from earmark.data.labels import Labels
from earmark.data.table import read_labels
from earmark.features.store import FeatureStore
from earmark.training.config import DataConfig
from earmark.training.data import StoreSet

__all__ = ["held_out_rows", "open_prepared", "select_splits"]


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
    is held out with a seeded permutation (of whole groups with ``group_pattern``, see
    :func:`held_out_rows`). An empty selection raises, naming it.
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
        groups = group_keys(train.clip_ids, data.group_pattern)
        valid_rows = held_out_rows(train.num_clips, data.valid_fraction, seed=seed, groups=groups)
        splits["valid"] = train.take(valid_rows)
        train = train.take(np.setdiff1d(np.arange(train.num_clips), valid_rows))
    if data.test_folds:
        splits["test"] = labels.select(folds=data.test_folds)
    splits["train"] = train
    for name, part in splits.items():
        if part.num_clips == 0:
            raise ValueError(f"the {name} selection is empty; check data.*_folds and data.train_sources")
    return {k: splits[k] for k in ("train", "valid", "test") if k in splits}


def held_out_rows(
    num_clips: int, fraction: float, *, seed: int, groups: np.ndarray | None = None
) -> np.ndarray:
    """Sorted rows of a seeded held-out share of ``num_clips`` clips, whole groups at a time.

    Parameters
    ----------
    num_clips : int
        How many clips there are.
    fraction : float
        The share to hold out, in (0, 1); at least one clip is held out.
    seed : int
        Seeds the permutation.
    groups : (num_clips,) keys, optional
        Clips with one key are held out together: groups are taken in a seeded order until the
        held-out clips reach the share (so it may be exceeded by up to one group). Without
        groups, the first ``round(fraction * num_clips)`` clips of a seeded permutation.

    Returns
    -------
    (held,) int64 row indices in ascending order.

    Examples
    --------
    >>> held_out_rows(4, 0.5, seed=0, groups=np.array(["a", "a", "b", "b"])).tolist() in ([0, 1], [2, 3])
    True

    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    count = max(1, round(fraction * num_clips))
    if groups is None:
        return np.sort(rng.permutation(num_clips)[:count])
    keys = np.asarray(groups).astype(str)
    if keys.shape != (num_clips,):
        raise ValueError(f"{len(keys)} group keys for {num_clips} clips")
    _, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    order = rng.permutation(len(sizes))
    taken = int(np.searchsorted(np.cumsum(sizes[order]), count)) + 1
    return np.flatnonzero(np.isin(inverse.ravel(), order[:taken])).astype(np.int64)
