"""Per-class curve metrics: ROC-AUC, average precision (PR-AUC), d-prime.

Every function takes ``(clips, classes)`` true labels and scores and an optional boolean mask
of known entries; a class is scored on its known entries only. Per-class results come as a
:class:`~earmark.metrics._common.ClassScores`: classes with no positives (or no negatives) among
the evaluated entries are left out of the macro average and named in ``excluded``.

Ties are handled as scikit-learn does: average precision takes one precision / recall step per
distinct score, so every positive in a tie group gets the precision of the whole group; ROC-AUC
counts a tied positive–negative pair as half a win (the trapezoid over tied thresholds).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from earmark.metrics._common import (
    ClassScores,
    EvalArrays,
    UndefinedMetricError,
    check_inputs,
    count_at_least,
    count_within_lines,
    exclusion_reasons,
    nonzero_entries,
    precision_at_positives,
)

__all__ = [
    "average_precision_macro",
    "average_precision_micro",
    "average_precision_per_class",
    "d_prime",
    "d_prime_per_class",
    "precision_recall_curve",
    "roc_auc_macro",
    "roc_auc_micro",
    "roc_auc_per_class",
]


def _class_counts(arrays: EvalArrays) -> tuple[np.ndarray, np.ndarray]:
    positives = arrays.evaluated_positive.sum(axis=0)
    known = arrays.known.sum(axis=0) if arrays.masked else np.full(len(positives), arrays.positive.shape[0])
    return positives, known - positives


def _micro_line(arrays: EvalArrays) -> tuple[np.ndarray, np.ndarray]:
    if arrays.masked:
        return arrays.scores[arrays.known][None, :], arrays.positive[arrays.known][None, :]
    return arrays.scores.reshape(1, -1), arrays.positive.reshape(1, -1)


# --------------------------------------------------------------------------- average precision
def _average_precision_lines(lines: np.ndarray, positive: np.ndarray, known: np.ndarray | None) -> np.ndarray:
    line_of, _, precision = precision_at_positives(lines, positive, known)
    counts = np.bincount(line_of, minlength=lines.shape[0])
    return np.bincount(line_of, weights=precision, minlength=lines.shape[0]) / np.maximum(counts, 1)


def average_precision_per_class(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> ClassScores:
    """Average precision (area under the step-wise PR curve) of each class.

    Parameters
    ----------
    y_true
        (clips, classes) bool or 0/1.
    scores
        (clips, classes) float.
    mask
        (clips, classes) bool, optional; True marks a known entry.
    class_names
        names of the columns.

    Returns
    -------
    ClassScores
        ``values`` (classes,); classes without positives or without negatives are excluded
        (AP would be undefined or trivially 1).

    """
    arrays = check_inputs(y_true, scores, mask, class_names=class_names)
    values = _average_precision_lines(
        arrays.scores.T, arrays.positive.T, arrays.known.T if arrays.masked else None
    )
    positives, negatives = _class_counts(arrays)
    reasons = exclusion_reasons(positives, negatives, need_negatives=True)
    return ClassScores.build("average_precision", arrays.class_names, values, reasons)


def average_precision_macro(
    y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None
) -> float:
    """Mean average precision over the classes that can be scored (``(clips, classes)`` input)."""
    return average_precision_per_class(y_true, scores, mask=mask).macro


def average_precision_micro(
    y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None
) -> float:
    """Average precision of all known ``(clip, class)`` entries pooled into one ranking.

    Raises ``ValueError`` when the pooled entries hold no positive or no negative.
    """
    arrays = check_inputs(y_true, scores, mask)
    line, positive = _micro_line(arrays)
    _require_both(int(positive.sum()), positive.size, "micro average precision")
    return float(_average_precision_lines(line, positive, None)[0])


# --------------------------------------------------------------------------- ROC-AUC
def _auc_lines(lines: np.ndarray, positive: np.ndarray, known: np.ndarray | None) -> np.ndarray:
    """Mann–Whitney ROC-AUC of each line; NaN where a line lacks positives or negatives."""
    evaluated = positive if known is None else positive & known
    line_of, column_of = nonzero_entries(evaluated)
    values = lines[line_of, column_of]
    num_lines, length = lines.shape
    ordered = np.array(lines, copy=True, order="C")
    if known is not None:
        ordered[~known] = -np.inf
    ordered.sort(axis=1)
    flat, starts = ordered.ravel(), line_of * length
    known_at_least = count_at_least(flat, starts, starts + length, values)
    known_above = count_at_least(flat, starts, starts + length, values, strict=True)
    del ordered, flat
    positives_at_least = count_within_lines(line_of, values, num_lines, values)
    positives_above = count_within_lines(line_of, values, num_lines, values, strict=True)
    num_positive = np.bincount(line_of, minlength=num_lines)
    num_known = np.full(num_lines, length) if known is None else known.sum(axis=1)
    num_negative = num_known - num_positive
    negatives_at_least = known_at_least - positives_at_least
    negatives_tied = negatives_at_least - (known_above - positives_above)
    wins = (num_negative[line_of] - negatives_at_least) + 0.5 * negatives_tied
    pairs = (num_positive * num_negative).astype(np.float64)
    total = np.bincount(line_of, weights=wins, minlength=num_lines)
    auc = np.full(num_lines, np.nan)
    np.divide(total, pairs, out=auc, where=pairs > 0)
    return auc


def roc_auc_per_class(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> ClassScores:
    """Area under the ROC curve of each class.

    Parameters
    ----------
    y_true
        (clips, classes) bool or 0/1.
    scores
        (clips, classes) float.
    mask
        (clips, classes) bool, optional; True marks a known entry.
    class_names
        names of the columns.

    Returns
    -------
    ClassScores
        ``values`` (classes,): the probability that a random positive outscores a random
        negative, ties counting half. Classes without positives or negatives are excluded.

    """
    arrays = check_inputs(y_true, scores, mask, class_names=class_names)
    values = _auc_lines(arrays.scores.T, arrays.positive.T, arrays.known.T if arrays.masked else None)
    positives, negatives = _class_counts(arrays)
    reasons = exclusion_reasons(positives, negatives, need_negatives=True)
    return ClassScores.build("roc_auc", arrays.class_names, values, reasons)


def roc_auc_macro(y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean ROC-AUC over the classes that can be scored (``(clips, classes)`` input)."""
    return roc_auc_per_class(y_true, scores, mask=mask).macro


def roc_auc_micro(y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """ROC-AUC of all known ``(clip, class)`` entries pooled into one ranking."""
    arrays = check_inputs(y_true, scores, mask)
    line, positive = _micro_line(arrays)
    _require_both(int(positive.sum()), positive.size, "micro ROC-AUC")
    return float(_auc_lines(line, positive, None)[0])


def _require_both(num_positive: int, num_entries: int, what: str) -> None:
    if num_positive == 0 or num_positive == num_entries:
        kind = "positive" if num_positive == 0 else "negative"
        raise UndefinedMetricError(f"{what}: the {num_entries} evaluated entries hold no {kind}")


# --------------------------------------------------------------------------- d-prime
def d_prime(auc: float | np.ndarray, *, auc_clip: float = 1e-6) -> np.ndarray:
    """Sensitivity index from ROC-AUC: ``d' = sqrt(2) * Phi^-1(AUC)``.

    Parameters
    ----------
    auc
        float or (n,) array in [0, 1]; NaN passes through.
    auc_clip
        AUC is clipped to ``[auc_clip, 1 - auc_clip]`` so that a perfect class gives a
        large finite d' instead of infinity.

    Returns
    -------
    ndarray of the same shape as ``auc``.

    Examples
    --------
    >>> float(d_prime(0.5))
    0.0

    """
    values = np.asarray(auc, dtype=np.float64)
    if ((values < 0) | (values > 1)).any():
        raise ValueError(f"AUC must lie in [0, 1], got {values[(values < 0) | (values > 1)][0]}")
    if not 0 < auc_clip < 0.5:
        raise ValueError(f"auc_clip must lie in (0, 0.5), got {auc_clip}")
    clipped = np.clip(values, auc_clip, 1 - auc_clip)
    inverse = np.vectorize(NormalDist().inv_cdf, otypes=[np.float64])
    out = np.where(np.isnan(values), np.nan, np.sqrt(2.0) * inverse(np.nan_to_num(clipped, nan=0.5)))
    return out + 0.0  # turns -0.0 into 0.0


def d_prime_per_class(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> ClassScores:
    """D' of each class from its ROC-AUC; ``macro`` is the mean d' over scored classes.

    AudioSet papers report d' of the mean AUC instead: ``d_prime(roc_auc_macro(...))``.
    """
    auc = roc_auc_per_class(y_true, scores, mask=mask, class_names=class_names)
    reasons = np.array([auc.excluded.get(name, "") for name in auc.class_names], dtype=object)
    return ClassScores.build("d_prime", auc.class_names, d_prime(auc.values), reasons)


# --------------------------------------------------------------------------- curve points
def precision_recall_curve(
    y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision–recall points of one class, one per distinct score (highest first).

    Parameters
    ----------
    y_true
        (clips,) bool or 0/1.
    scores
        (clips,) float.
    mask
        (clips,) bool, optional known entries.

    Returns
    -------
    precision, recall, thresholds : (points,) float64 each; predicting ``score >= threshold``.

    """
    arrays = check_inputs(
        np.asarray(y_true)[:, None],
        np.asarray(scores)[:, None],
        None if mask is None else np.asarray(mask)[:, None],
    )
    positive = arrays.positive[arrays.known[:, 0], 0]
    values = arrays.scores[arrays.known[:, 0], 0]
    _require_both(int(positive.sum()), positive.size, "precision-recall curve")
    order = np.argsort(-values, kind="stable")
    values, positive = values[order], positive[order]
    group_end = np.flatnonzero(np.r_[values[1:] != values[:-1], True])
    true_positives = np.cumsum(positive)[group_end]
    predicted = group_end + 1
    return true_positives / predicted, true_positives / positive.sum(), values[group_end]
