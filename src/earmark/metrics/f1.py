"""F1 scores of thresholded predictions: per class, macro, tuned thresholds, the OpenMIC variant.

A clip is predicted positive for a class when its score is ``>= threshold``. The threshold is
one number for every class, one per class, or tuned per class on a validation set with
:func:`tune_f1_thresholds`. F1 here is the F1 of the *positive* class, as in OpenMIC's
published tables and scikit-learn's ``f1_score(average="macro")`` over multi-label indicators.

:func:`openmic_paper_f1` is a different quantity, kept under its own name so results can be set
beside the OpenMIC missing-label paper: for each instrument, the mean of the positive-class and
the negative-class F1 on the known entries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from earmark.metrics._common import (
    ClassScores,
    EvalArrays,
    check_inputs,
    count_at_least,
    count_within_lines,
    exclusion_reasons,
    nonzero_entries,
)

__all__ = ["f1_macro", "f1_per_class", "openmic_paper_f1", "tune_f1_thresholds"]


def _thresholds(thresholds: float | np.ndarray, num_classes: int) -> np.ndarray:
    values = np.asarray(thresholds, dtype=np.float64)
    if values.ndim == 0:
        values = np.full(num_classes, float(values))
    if values.shape != (num_classes,):
        raise ValueError(f"thresholds have shape {values.shape}, expected a number or ({num_classes},)")
    if np.isnan(values).any():
        raise ValueError(f"threshold of class {int(np.flatnonzero(np.isnan(values))[0])} is NaN")
    return values


def _confusion_counts(arrays: EvalArrays, thresholds: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-class true / false positives, false negatives, true negatives on known entries."""
    predicted = arrays.scores >= thresholds[None, :]
    known, positive = arrays.known, arrays.positive
    true_pos = (predicted & positive & known).sum(axis=0)
    false_pos = (predicted & ~positive & known).sum(axis=0)
    false_neg = (~predicted & positive & known).sum(axis=0)
    true_neg = (~predicted & ~positive & known).sum(axis=0)
    return true_pos, false_pos, false_neg, true_neg


def _f1(hits: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """``2 hits / (2 hits + wrong)``, 0 where the denominator is 0."""
    denominator = (2 * hits + wrong).astype(np.float64)
    out = np.zeros(len(hits))
    np.divide(2 * hits, denominator, out=out, where=denominator > 0)
    return out


def f1_per_class(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    thresholds: float | np.ndarray = 0.5,
    mask: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> ClassScores:
    """F1 of the positive class for each class.

    Parameters
    ----------
    y_true
        (clips, classes) bool or 0/1.
    scores
        (clips, classes) float.
    thresholds
        a number for every class, or (classes,) per class; positive when ``>=``.
    mask
        (clips, classes) bool, optional; True marks a known entry.
    class_names
        names of the columns.

    Returns
    -------
    ClassScores
        ``values`` (classes,); classes without known positives are excluded.

    """
    arrays = check_inputs(y_true, scores, mask, class_names=class_names)
    true_pos, false_pos, false_neg, true_neg = _confusion_counts(
        arrays, _thresholds(thresholds, arrays.num_classes)
    )
    values = _f1(true_pos, false_pos + false_neg)
    reasons = exclusion_reasons(true_pos + false_neg, false_pos + true_neg, need_negatives=False)
    return ClassScores.build("f1", arrays.class_names, values, reasons)


def f1_macro(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    thresholds: float | np.ndarray = 0.5,
    mask: np.ndarray | None = None,
) -> float:
    """Mean positive-class F1 over the classes with known positives; see :func:`f1_per_class`."""
    return f1_per_class(y_true, scores, thresholds=thresholds, mask=mask).macro


def openmic_paper_f1(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    thresholds: float | np.ndarray = 0.5,
    mask: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> ClassScores:
    """Per instrument, the mean of positive-class and negative-class F1 on known entries.

    This is what the OpenMIC missing-label paper's code reports (a binary macro-F1 per
    instrument); it is not :func:`f1_per_class`, and it is typically higher.

    Parameters
    ----------
    y_true
        (clips, classes) bool or 0/1.
    scores
        (clips, classes) float.
    thresholds
        a number for every class, or (classes,) per class.
    mask
        (clips, classes) bool, optional; True marks a known (annotated) entry.
    class_names
        names of the columns.

    Returns
    -------
    ClassScores
        Classes without known positives or without known negatives are excluded.

    """
    arrays = check_inputs(y_true, scores, mask, class_names=class_names)
    true_pos, false_pos, false_neg, true_neg = _confusion_counts(
        arrays, _thresholds(thresholds, arrays.num_classes)
    )
    wrong = false_pos + false_neg
    values = 0.5 * (_f1(true_pos, wrong) + _f1(true_neg, wrong))
    reasons = exclusion_reasons(true_pos + false_neg, false_pos + true_neg, need_negatives=True)
    return ClassScores.build("openmic_paper_f1", arrays.class_names, values, reasons)


def tune_f1_thresholds(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    fallback: float = 0.5,
) -> np.ndarray:
    """Per-class thresholds that maximise F1 on a validation set.

    Parameters
    ----------
    y_true
        (clips, classes) bool or 0/1, validation labels.
    scores
        (clips, classes) float, validation scores.
    mask
        (clips, classes) bool, optional known entries.
    fallback
        threshold of classes without known positives.

    Returns
    -------
    (classes,) float64. Each lies halfway between the lowest score the best cut keeps and the
    next lower known score of that class (or equals the kept score when there is none), so the
    validation F1 at ``>=`` is the maximum reachable. Among equally good cuts, the highest wins.

    """
    arrays = check_inputs(y_true, scores, mask)
    lines = arrays.scores.T
    known = arrays.known.T
    class_of, clip_of = nonzero_entries(arrays.evaluated_positive.T)
    values = lines[class_of, clip_of]
    num_classes, length = lines.shape
    ordered = np.ascontiguousarray(np.where(known, lines, -np.inf))
    ordered.sort(axis=1)
    flat, starts = ordered.ravel(), class_of * length
    predicted = count_at_least(flat, starts, starts + length, values)
    hits = count_within_lines(class_of, values, num_classes, values)
    num_positive = np.bincount(class_of, minlength=num_classes)
    f1 = 2 * hits / (predicted + num_positive[class_of])
    order = np.lexsort((-values, -f1, class_of))
    classes, first = np.unique(class_of[order], return_index=True)
    best = order[first]
    kept = values[best]
    below = flat[np.maximum(starts[best] + length - predicted[best] - 1, 0)]
    has_lower = (length - predicted[best] > 0) & np.isfinite(below)
    middle = kept / 2 + below / 2
    chosen = np.where(has_lower & (middle > below) & (middle <= kept), middle, kept)
    out = np.full(num_classes, float(fallback))
    out[classes] = chosen
    return out
