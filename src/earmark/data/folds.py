"""Folds for cross-validation and out-of-fold scoring: stratified by class, groups kept together.

Grouped clips (the takes cut from one recording, see :func:`earmark.data.groups.group_keys`)
always land in one fold, so no fold scores a twin of a clip it trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["assign_folds"]


def assign_folds(
    positive: np.ndarray, *, folds: int, seed: int, groups: Sequence[str] | np.ndarray | None = None
) -> np.ndarray:
    """Folds ``1..folds``, stratified by class, with grouped clips kept together.

    Clips are grouped by ``groups`` (one group per clip without it); a group's class is the first
    positive of its first clip. Groups are shuffled (seeded) within each class and dealt to the
    folds in turn, continuing across classes, so every fold gets a share of every class and the
    fold sizes differ by few groups.

    Parameters
    ----------
    positive : (clips, classes) bool
        The labels.
    folds : int
        How many folds (at least 2).
    seed : int
        Seeds the shuffle of the groups within a class.
    groups : (clips,) str, optional
        Each clip's group key; clips sharing a key get one fold.

    Returns
    -------
    (clips,) int64 in ``1..folds``.

    Raises
    ------
    ValueError
        For fewer than 2 folds, fewer groups than folds, or a ``groups`` of another length.

    Examples
    --------
    >>> positive = np.eye(2, dtype=bool).repeat(3, axis=0)
    >>> sorted(assign_folds(positive, folds=3, seed=0).tolist())
    [1, 1, 2, 2, 3, 3]

    """
    positive = np.asarray(positive, dtype=bool)
    if folds < 2:
        raise ValueError(f"splitting into folds needs at least 2 folds, got {folds}")
    keys = np.arange(len(positive)).astype(str) if groups is None else np.asarray(groups).astype(str)
    if keys.shape != (len(positive),):
        raise ValueError(f"{len(keys)} group keys for {len(positive)} clips")
    names, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    if len(names) < folds:
        raise ValueError(f"{len(names)} clips (or groups) cannot fill {folds} folds")
    lead = positive[first]
    group_class = np.where(lead.any(1), lead.argmax(1), -1)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.permutation(len(names)), group_class))
    group_fold = np.empty(len(names), dtype=np.int64)
    group_fold[order] = np.arange(len(names)) % folds + 1
    return group_fold[inverse.ravel()]
