"""Bootstrap over clips: confidence intervals for any metric, and paired comparisons.

Clips are resampled with replacement; the metric is recomputed on each resample. A paired
comparison draws the *same* clips for both prediction sets, so the interval and p-value answer
"does B beat A on these clips?" rather than comparing two independent intervals. Random draws
come from a generator the caller passes in.

A resample on which the metric is undefined (for example no clip with a positive label) is
skipped and counted in ``num_undefined``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np

from earmark.metrics._common import UndefinedMetricError

__all__ = ["BootstrapInterval", "Metric", "PairedComparison", "bootstrap_ci", "paired_bootstrap"]


class Metric(Protocol):
    """A scalar metric of ``(clips, classes)`` labels and scores with an optional mask."""

    def __call__(self, y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None) -> float:
        """Return the metric of ``(clips, classes)`` labels and scores."""
        ...


@dataclasses.dataclass(frozen=True)
class BootstrapInterval:
    """A metric with its percentile bootstrap interval.

    Attributes
    ----------
    estimate
        the metric on all clips.
    low, high
        the interval's ends.
    confidence
        e.g. 0.95.
    num_resamples
        resamples drawn.
    num_undefined
        resamples on which the metric was undefined (skipped).

    """

    estimate: float
    low: float
    high: float
    confidence: float
    num_resamples: int
    num_undefined: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PairedComparison:
    """Prediction set B against A on the same clips.

    Attributes
    ----------
    metric_a, metric_b
        the metric of each on all clips.
    difference
        ``metric_b - metric_a``.
    low, high
        percentile bootstrap interval of the difference.
    p_value
        two-sided bootstrap p-value of "no difference".
    confidence, num_resamples, num_undefined
        as in :class:`BootstrapInterval`.

    """

    metric_a: float
    metric_b: float
    difference: float
    low: float
    high: float
    p_value: float
    confidence: float
    num_resamples: int
    num_undefined: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return dataclasses.asdict(self)


def _check_options(num_resamples: int, confidence: float) -> None:
    if num_resamples < 1:
        raise ValueError(f"num_resamples must be at least 1, got {num_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def _resampled(
    metrics: list[tuple[Metric, np.ndarray]],
    y_true: np.ndarray,
    mask: np.ndarray | None,
    *,
    rng: np.random.Generator,
    num_resamples: int,
) -> tuple[np.ndarray, int]:
    """``(resamples that worked, len(metrics))`` values and the number of undefined resamples."""
    num_clips = y_true.shape[0]
    rows: list[list[float]] = []
    undefined = 0
    for _ in range(num_resamples):
        picked = rng.integers(0, num_clips, size=num_clips)
        sub_mask = None if mask is None else mask[picked]
        try:
            rows.append([m(y_true[picked], s[picked], mask=sub_mask) for m, s in metrics])
        except UndefinedMetricError:
            undefined += 1
    if not rows:
        raise UndefinedMetricError(f"the metric was undefined on all {num_resamples} bootstrap resamples")
    return np.array(rows, dtype=np.float64), undefined


def bootstrap_ci(
    metric: Metric,
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    rng: np.random.Generator,
    mask: np.ndarray | None = None,
    num_resamples: int = 1000,
    confidence: float = 0.95,
) -> BootstrapInterval:
    """Percentile bootstrap interval of ``metric`` over clips.

    Parameters
    ----------
    metric
        ``metric(y_true, scores, mask=mask) -> float``, e.g. :func:`lwlrap`.
    y_true
        (clips, classes) labels.
    scores
        (clips, classes) scores.
    rng
        the generator that draws the resamples.
    mask
        (clips, classes) bool, optional known entries (resampled with the clips).
    num_resamples
        how many resamples to draw.
    confidence
        the interval's coverage.

    Returns
    -------
    BootstrapInterval

    """
    _check_options(num_resamples, confidence)
    y_array, score_array = np.asarray(y_true), np.asarray(scores)
    mask_array = None if mask is None else np.asarray(mask)
    estimate = metric(y_array, score_array, mask=mask_array)
    values, undefined = _resampled(
        [(metric, score_array)], y_array, mask_array, rng=rng, num_resamples=num_resamples
    )
    tail = (1 - confidence) / 2
    low, high = np.quantile(values[:, 0], [tail, 1 - tail])
    return BootstrapInterval(float(estimate), float(low), float(high), confidence, num_resamples, undefined)


def paired_bootstrap(
    metric: Metric,
    y_true: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    *,
    rng: np.random.Generator,
    mask: np.ndarray | None = None,
    num_resamples: int = 1000,
    confidence: float = 0.95,
) -> PairedComparison:
    """Paired bootstrap of ``metric(B) - metric(A)`` over the same resampled clips.

    Parameters
    ----------
    metric
        ``metric(y_true, scores, mask=mask) -> float``.
    y_true
        (clips, classes) labels shared by both prediction sets.
    scores_a, scores_b
        (clips, classes) scores of the two systems, rows in the same clip order.
    rng
        the generator that draws the resamples.
    mask
        (clips, classes) bool, optional known entries.
    num_resamples
        how many resamples to draw.
    confidence
        the interval's coverage.

    Returns
    -------
    PairedComparison
        ``p_value = min(1, 2 * min(1 + #(d <= 0), 1 + #(d >= 0)) / (1 + resamples))`` over the
        resampled differences ``d``: small when the difference keeps its sign on almost every
        resample.

    """
    _check_options(num_resamples, confidence)
    y_array = np.asarray(y_true)
    first, second = np.asarray(scores_a), np.asarray(scores_b)
    if first.shape != second.shape:
        raise ValueError(f"scores_a have shape {first.shape} but scores_b have shape {second.shape}")
    mask_array = None if mask is None else np.asarray(mask)
    metric_a = metric(y_array, first, mask=mask_array)
    metric_b = metric(y_array, second, mask=mask_array)
    values, undefined = _resampled(
        [(metric, first), (metric, second)],
        y_array,
        mask_array,
        rng=rng,
        num_resamples=num_resamples,
    )
    differences = values[:, 1] - values[:, 0]
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    at_most, at_least = int((differences <= 0).sum()), int((differences >= 0).sum())
    p_value = min(1.0, 2 * (1 + min(at_most, at_least)) / (1 + len(differences)))
    return PairedComparison(
        metric_a=float(metric_a),
        metric_b=float(metric_b),
        difference=float(metric_b - metric_a),
        low=float(low),
        high=float(high),
        p_value=p_value,
        confidence=confidence,
        num_resamples=num_resamples,
        num_undefined=undefined,
    )
