"""Label-ranking metrics: lwlrap (overall, per class, class weights) and LRAP.

For a clip and one of its positive classes, the *precision at that class* is the share of
positives among the classes the clip scores at least as high (ties count at the worst rank, as
scikit-learn's ``label_ranking_average_precision_score`` does). LRAP averages it per clip, then
over clips. lwlrap (FSDKaggle2019) averages it per class over the clips positive for the class,
then weights each class by its share of all positive labels — equal to LRAP with each clip
weighted by its number of positives, clips without positives dropped.

With a ``mask``, only known entries of a clip are ranked and only known positives count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from earmark.metrics._common import (
    ClassScores,
    UndefinedMetricError,
    check_inputs,
    exclusion_reasons,
    precision_at_positives,
)

__all__ = ["LwlrapResult", "lrap", "lwlrap", "lwlrap_class_weights", "lwlrap_per_class"]


@dataclasses.dataclass(frozen=True)
class LwlrapResult:
    """lwlrap with its per-class parts.

    Attributes
    ----------
    overall
        float, the label-weighted score.
    per_class
        ClassScores, per-class lwlrap (classes without positives excluded, by name).
    weights
        (classes,) float64, each class's share of all positive labels (sums to 1).

    """

    overall: float
    per_class: ClassScores
    weights: np.ndarray


def lwlrap_per_class(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> LwlrapResult:
    """Label-weighted label-ranking average precision, overall and per class.

    Parameters
    ----------
    y_true
        (clips, classes) bool or 0/1.
    scores
        (clips, classes) float, higher = more likely.
    mask
        (clips, classes) bool, optional; True marks a known entry. Unknown entries are left
        out of each clip's ranking.
    class_names
        names of the columns, used in the result and in error messages.

    Returns
    -------
    LwlrapResult
        ``overall == (per_class.values * weights)`` summed over classes with positives.

    Raises
    ------
    ValueError
        Bad shapes or scores (see :func:`check_inputs`), or no known positive at all.

    Examples
    --------
    >>> y = np.array([[1, 0, 0], [0, 1, 1]])
    >>> s = np.array([[0.9, 0.1, 0.2], [0.8, 0.7, 0.1]])
    >>> round(lwlrap_per_class(y, s).overall, 4)
    0.7222

    """
    arrays = check_inputs(y_true, scores, mask, class_names=class_names)
    _, class_of, precision = precision_at_positives(
        arrays.scores, arrays.positive, arrays.known if arrays.masked else None
    )
    if len(precision) == 0:
        raise UndefinedMetricError("lwlrap: no clip has a known positive label; nothing to rank")
    k = arrays.num_classes
    positives = np.bincount(class_of, minlength=k)
    per_class = np.bincount(class_of, weights=precision, minlength=k) / np.maximum(positives, 1)
    reasons = exclusion_reasons(positives, np.ones(k), need_negatives=False)
    return LwlrapResult(
        overall=float(precision.sum() / len(precision)),
        per_class=ClassScores.build("lwlrap", arrays.class_names, per_class, reasons),
        weights=positives / len(precision),
    )


def lwlrap(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    mask: np.ndarray | None = None,
) -> float:
    """Overall lwlrap of ``(clips, classes)`` labels and scores; see :func:`lwlrap_per_class`."""
    arrays = check_inputs(y_true, scores, mask)
    _, _, precision = precision_at_positives(
        arrays.scores, arrays.positive, arrays.known if arrays.masked else None
    )
    if len(precision) == 0:
        raise UndefinedMetricError("lwlrap: no clip has a known positive label; nothing to rank")
    return float(precision.mean())


def lwlrap_class_weights(y_true: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
    """Each class's share of all (known) positive labels.

    Parameters
    ----------
    y_true
        (clips, classes) bool or 0/1.
    mask
        (clips, classes) bool, optional known entries.

    Returns
    -------
    (classes,) float64 summing to 1.

    """
    positive = np.asarray(y_true).astype(bool)
    if mask is not None:
        if np.shape(mask) != positive.shape:
            raise ValueError(f"mask has shape {np.shape(mask)} but y_true has shape {positive.shape}")
        positive = positive & np.asarray(mask, dtype=bool)
    if positive.ndim != 2:
        raise ValueError(f"y_true must be 2-D (clips, classes), got shape {positive.shape}")
    counts = positive.sum(axis=0)
    if counts.sum() == 0:
        raise UndefinedMetricError("lwlrap: no clip has a known positive label; class weights undefined")
    weights: np.ndarray = counts / counts.sum()
    return weights


def lrap(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> float:
    """Label-ranking average precision: per-clip mean precision at its positives, averaged.

    Parameters
    ----------
    y_true
        (clips, classes) bool or 0/1.
    scores
        (clips, classes) float.
    mask
        (clips, classes) bool, optional known entries.
    sample_weight
        (clips,) float, optional clip weights.

    Returns
    -------
    float
        The weighted mean over clips with at least one known positive. Unlike scikit-learn,
        which scores a clip without positives as 1, such clips are left out.

    """
    arrays = check_inputs(y_true, scores, mask)
    clip_of, _, precision = precision_at_positives(
        arrays.scores, arrays.positive, arrays.known if arrays.masked else None
    )
    n = arrays.positive.shape[0]
    positives = np.bincount(clip_of, minlength=n)
    scored = positives > 0
    if not scored.any():
        raise UndefinedMetricError("lrap: no clip has a known positive label; nothing to rank")
    per_clip = np.bincount(clip_of, weights=precision, minlength=n)[scored] / positives[scored]
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if weight.shape != (n,):
        raise ValueError(f"sample_weight has shape {weight.shape}, expected ({n},)")
    if weight[scored].sum() <= 0:
        raise ValueError("lrap: the clips with positives have zero total sample_weight")
    return float(np.average(per_clip, weights=weight[scored]))
