"""Suspected missing labels: entries not labeled positive that a model scores high.

A missing entry (not annotated; for positives-only data, every entry that is not a positive)
is suspicious when the model scores it high. Within each class the missing entries are ranked
by score (``class_rank`` 1 is the highest); the audit lists them across classes, highest score
first. The model should not have been trained to call these entries negative with full weight,
or it learns to agree with the gap: use a run trained with the missing entries masked (B1),
a Mean Teacher, or out-of-fold scores.
"""

from __future__ import annotations

import numpy as np

from earmark.audit.table import AuditItem, format_top
from earmark.data.labels import Labels

__all__ = ["rank_within_class", "suspected_missing"]


def rank_within_class(scores: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """1-based rank of each eligible entry among its class's eligible entries by descending score.

    Parameters
    ----------
    scores : (clips, classes) float
        The model's scores.
    eligible : (clips, classes) bool
        The entries to rank.

    Returns
    -------
    (clips, classes) int64, 0 where not eligible. Ties are broken by clip order.

    """
    scores = np.asarray(scores, dtype=np.float64)
    eligible = np.asarray(eligible, dtype=bool)
    if scores.shape != eligible.shape or scores.ndim != 2:
        raise ValueError(
            f"scores {scores.shape} and eligible {eligible.shape} must be one (clips, classes) shape"
        )
    ranks = np.zeros(scores.shape, dtype=np.int64)
    for c in range(scores.shape[1]):
        rows = np.flatnonzero(eligible[:, c])
        order = rows[np.argsort(-scores[rows, c], kind="stable")]
        ranks[order, c] = np.arange(1, len(order) + 1)
    return ranks


def suspected_missing(
    labels: Labels,
    scores: np.ndarray,
    *,
    per_class: int | None = None,
    min_score: float = 0.0,
    limit: int | None = None,
) -> list[AuditItem]:
    """The missing entries of ``labels`` ranked by the model's ``scores``, most suspicious first.

    Parameters
    ----------
    labels : Labels
        The clips' labels; their missing entries are the candidates.
    scores : (clips, classes) float
        Probabilities in ``labels``' clip and class order.
    per_class : int, optional
        Keep at most this many per class (the top of each class's ranking).
    min_score : float
        Drop entries scored below this.
    limit : int, optional
        Keep at most this many items overall.

    Returns
    -------
    Audit items with ``suggestion="add"``, highest score first (ties: class rank, clip, class).

    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != labels.positive.shape:
        raise ValueError(f"scores have shape {scores.shape}, the labels {labels.positive.shape}")
    if np.isnan(scores).any():
        raise ValueError("the scores hold NaN")
    missing = labels.missing
    ranks = rank_within_class(scores, missing)
    keep = missing & (scores >= min_score)
    if per_class is not None:
        keep &= ranks <= per_class
    rows, cols = np.nonzero(keep)
    order = np.lexsort((cols, rows, ranks[rows, cols], -scores[rows, cols]))
    if limit is not None:
        order = order[:limit]
    names = labels.class_names
    return [
        AuditItem(
            clip=str(labels.clip_ids[rows[i]]),
            class_name=names[cols[i]],
            suggestion="add",
            score=float(scores[rows[i], cols[i]]),
            class_rank=int(ranks[rows[i], cols[i]]),
            model_score=float(scores[rows[i], cols[i]]),
            top=format_top(names, scores[rows[i]]),
        )
        for i in order
    ]
