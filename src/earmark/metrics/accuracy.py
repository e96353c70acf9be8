"""Single-label metrics: accuracy, top-k accuracy and the confusion matrix.

Single-label data (ESC-50, ESC-10) has exactly one positive class per clip. The inputs are the
same ``(clips, classes)`` label and score matrices as everywhere else; with a ``mask``, only known
classes compete for a clip's prediction and clips without a known positive are left out.
"""

from __future__ import annotations

import numpy as np

from earmark.metrics._common import EvalArrays, UndefinedMetricError, check_inputs

__all__ = ["accuracy", "confusion_matrix", "top_k_accuracy"]


def _true_class(arrays: EvalArrays) -> tuple[np.ndarray, np.ndarray]:
    """Rows that can be evaluated and the true class of each; raises on multi-label rows."""
    counts = arrays.evaluated_positive.sum(axis=1)
    several = np.flatnonzero(counts > 1)
    if len(several):
        raise ValueError(
            f"single-label metric: clip {int(several[0])} has {int(counts[several[0]])} positive "
            f"labels ({len(several)} clips with more than one); use the multi-label metrics"
        )
    if not arrays.masked and (counts == 0).any():
        clip = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(
            f"single-label metric: clip {clip} has no positive label "
            f"({int((counts == 0).sum())} such clips); pass a mask to leave them out"
        )
    rows = np.flatnonzero(counts == 1)
    if len(rows) == 0:
        raise UndefinedMetricError("empty evaluation set: no clip has a known positive label")
    return rows, arrays.evaluated_positive[rows].argmax(axis=1)


def top_k_accuracy(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    k: int = 5,
    mask: np.ndarray | None = None,
) -> float:
    """Share of clips whose true class is among the ``k`` highest-scored classes.

    Parameters
    ----------
    y_true
        (clips, classes) bool or 0/1, one positive per clip.
    scores
        (clips, classes) float.
    k
        how many top classes count as a hit; ``k=1`` is accuracy.
    mask
        (clips, classes) bool, optional; unknown classes cannot be predicted.

    Returns
    -------
    float
        Ties count against the clip: the true class is a hit only when at most ``k`` known
        classes score at least as high as it.

    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    arrays = check_inputs(y_true, scores, mask)
    rows, truth = _true_class(arrays)
    scores_rows = arrays.scores[rows]
    true_score = scores_rows[np.arange(len(rows)), truth]
    at_least = (scores_rows >= true_score[:, None]) & arrays.known[rows]
    return float((at_least.sum(axis=1) <= k).mean())


def accuracy(y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Share of clips whose highest-scored class is the true one; see :func:`top_k_accuracy`."""
    return top_k_accuracy(y_true, scores, k=1, mask=mask)


def confusion_matrix(y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
    """Count true classes (rows) against highest-scored classes (columns).

    Parameters
    ----------
    y_true
        (clips, classes) bool or 0/1, one positive per clip.
    scores
        (clips, classes) float.
    mask
        (clips, classes) bool, optional known entries.

    Returns
    -------
    (classes, classes) int64. On a tie the first of the tied classes is the prediction.

    """
    arrays = check_inputs(y_true, scores, mask)
    rows, truth = _true_class(arrays)
    candidates = np.where(arrays.known[rows], arrays.scores[rows], -np.inf)
    predicted = candidates.argmax(axis=1)
    k = arrays.num_classes
    return np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k).astype(np.int64)
