"""Rules that decide which noisy labels to trust: pure functions over label and score arrays.

* :func:`top_k_agreement`: the FSDKaggle2019 multi-stage rule. A clip is kept as labeled when
  any of its labels is among the model's ``k`` highest-scored classes; its labels become that
  overlap.
* :func:`per_class_thresholds` and :func:`threshold_agreement`: per-class confidence
  thresholds; a label is kept when its score reaches its class's threshold.
* :func:`flag_by_rank` and :func:`flag_by_threshold`: flag the most suspicious clips of an
  audit (:func:`earmark.audit.noisy.clip_suspicion`), by rank or by value.
* :func:`best_per_class`: the "best N per class" selection of single-label clips.

Every array is ``(clips, classes)`` or ``(clips,)``; nothing here trains or reads files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "best_per_class",
    "flag_by_rank",
    "flag_by_threshold",
    "per_class_thresholds",
    "threshold_agreement",
    "top_k_agreement",
]


def _pair(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    positive = np.asarray(positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if positive.shape != scores.shape or positive.ndim != 2:
        raise ValueError(
            f"labels {positive.shape} and scores {scores.shape} must be one (clips, classes) shape"
        )
    if np.isnan(scores).any():
        raise ValueError("the scores hold NaN")
    return positive, scores


def top_k_agreement(positive: np.ndarray, scores: np.ndarray, *, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep a clip when any of its labels is among the model's top ``k``; reduce labels to the overlap.

    Parameters
    ----------
    positive : (clips, classes) bool
        The noisy labels.
    scores : (clips, classes) float
        The model's scores.
    k : int
        How many of the highest-scored classes count (5 in the original); ties go to the
        lower class index.

    Returns
    -------
    keep : (clips,) bool
    reduced : (clips, classes) bool, the labels that are in the top ``k`` (all False where not kept).

    Examples
    --------
    >>> keep, reduced = top_k_agreement([[1, 1, 0], [1, 0, 0]], [[0.9, 0.1, 0.5], [0.1, 0.2, 0.3]], k=2)
    >>> keep.tolist(), reduced.astype(int).tolist()
    ([True, False], [[1, 0, 0], [0, 0, 0]])

    """
    positive, scores = _pair(positive, scores)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    in_top = np.zeros_like(positive)
    np.put_along_axis(in_top, order, True, axis=1)
    reduced = positive & in_top
    return np.asarray(reduced.any(1)), reduced


def per_class_thresholds(positive: np.ndarray, scores: np.ndarray, *, quantile: float) -> np.ndarray:
    """Per class, the ``quantile`` of the scores of the clips labeled with it.

    Thresholding at the class's own 0.2-quantile keeps the 80 % of each class's labels that the
    model believes most, whatever its calibration for that class.

    Returns
    -------
    (classes,) float64; ``inf`` for a class no clip is labeled with.

    """
    positive, scores = _pair(positive, scores)
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    thresholds = np.full(positive.shape[1], np.inf)
    for c in range(positive.shape[1]):
        values = scores[positive[:, c], c]
        if len(values):
            thresholds[c] = float(np.quantile(values, quantile, method="lower"))
    return thresholds


def threshold_agreement(
    positive: np.ndarray, scores: np.ndarray, thresholds: float | Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the labels scored at least their class's threshold; keep clips with any label left.

    ``thresholds`` is one value or one per class. Returns ``(keep (clips,), reduced (clips,
    classes))`` like :func:`top_k_agreement`.

    Examples
    --------
    >>> keep, reduced = threshold_agreement([[1, 0], [0, 1]], [[0.6, 0.0], [0.0, 0.3]], [0.5, 0.4])
    >>> keep.tolist()
    [True, False]

    """
    positive, scores = _pair(positive, scores)
    limits = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (positive.shape[1],))
    reduced = positive & (scores >= limits[None, :])
    return np.asarray(reduced.any(1)), reduced


def flag_by_rank(suspicion: np.ndarray, *, top: int | float) -> np.ndarray:
    """Flag the ``top`` most suspicious clips: a count (int) or a share of the clips (float in (0, 1]).

    Ties go to the earlier clip. ``-inf`` (nothing suspicious about the clip) is never flagged.
    """
    values = np.asarray(suspicion, dtype=np.float64)
    if isinstance(top, float):
        if not 0.0 < top <= 1.0:
            raise ValueError(f"a share of clips to flag must be in (0, 1], got {top}")
        count = round(top * len(values))
    else:
        if top < 0:
            raise ValueError(f"the number of clips to flag must be >= 0, got {top}")
        count = min(int(top), len(values))
    order = np.argsort(-values, kind="stable")[:count]
    flags = np.zeros(len(values), dtype=bool)
    flags[order] = True
    return flags & np.isfinite(values)


def flag_by_threshold(suspicion: np.ndarray, *, minimum: float) -> np.ndarray:
    """Flag the clips whose suspicion is above ``minimum``."""
    return np.asarray(suspicion, dtype=np.float64) > minimum


def best_per_class(
    positive: np.ndarray, value: np.ndarray, *, per_class: int, eligible: np.ndarray | None = None
) -> np.ndarray:
    """Up to ``per_class`` single-label clips per class, those of highest ``value`` first.

    Parameters
    ----------
    positive : (clips, classes) bool
        The labels.
    value : (clips,) float
        What ranks clips within a class (e.g. duration, a model's score for the label).
    per_class : int
        The most clips chosen per class.
    eligible : (clips,) bool, optional
        Clips that may be chosen (e.g. the noisy ones); all by default.

    Returns
    -------
    (clips,) bool: the chosen clips. Multi-label clips and clips without a label are never chosen;
    ties go to the earlier clip.

    """
    positive = np.asarray(positive, dtype=bool)
    value = np.asarray(value, dtype=np.float64)
    if value.shape != (len(positive),):
        raise ValueError(f"{value.shape} values for {len(positive)} clips")
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    allowed = positive.sum(1) == 1
    if eligible is not None:
        allowed &= np.asarray(eligible, dtype=bool)
    chosen = np.zeros(len(positive), dtype=bool)
    for c in range(positive.shape[1]):
        rows = np.flatnonzero(allowed & positive[:, c])
        chosen[rows[np.argsort(-value[rows], kind="stable")[:per_class]]] = True
    return chosen
