"""How many labels are wrong or missing: point estimates with a bootstrap interval over clips.

Both estimators are pure functions of the labels and **out-of-fold** scores (each clip scored by
a model that did not train on it): a model scoring its own training clips was fitted to their
labels, so it confirms wrong labels and scores labeled positives far above missing ones, and
both rates come out near zero (on the AudioSet sample with 20 % of the positives dropped,
``benchmarks/audit_missing_oof.py``: about 2 % missing in-fold, 23–26 % out of fold).

:func:`estimate_noise_rate`, the share of the positive labels that are wrong
    Confident learning's calibrated joint (Northcutt et al., JAIR 2021), on the audit's class
    thresholds (:func:`~earmark.audit.noisy.class_thresholds`, shrunk by ``prior_clips``). A
    positive ``(i, c)`` is *disputed* when another class ``j`` the clip is not labeled with
    reaches its threshold (``q_ij = p_ij / t_j ≥ 1``) and either ``c`` does not reach its own or,
    on a clip with one label, ``p_ij > p_ic`` (cleanlab's argmax; on a clip with several labels a
    higher unlabeled class does not make a label wrong); it is *confirmed* when ``c`` reaches its
    threshold and it is not disputed; otherwise the scores say nothing confident about it (with
    a weak model, many labels). Per class, the disputed share of the
    confidently judged labels is scaled to all of the class's labels (the calibration of the
    joint to the given label counts); a class with none judged takes the share over every
    class. For single-label data this is cleanlab's ``1 − trace(estimate_joint)`` with the
    audit's shrunk thresholds.

:func:`estimate_missing_rate`, the share of the true positives that are missing
    (hidden positives ``H`` among the missing entries, over ``H`` plus the labeled positives).

    ``calibrated`` (labels with annotated negatives: OpenMIC, SONYC-UST, simulated masks)
        Platt scaling fitted on the annotated entries, ``P(positive | p) = σ(a · logit p + b)``,
        one ``(a, b)`` for every class; ``H`` is its sum over the missing entries. Assumes an
        entry's being missing does not depend on its value given the score (missing at
        random), as when annotators skipped entries or a mask was drawn at random.
    ``top_bin`` (positives-only labels: AudioSet, last.fm; no annotated negative to calibrate on)
        If positives go missing independently of their score (selected completely at random),
        the missing entries scored at least ``t`` hold ``(1 − c) / c`` hidden positives per
        labeled positive scored at least ``t``, plus the negatives scored that high, where ``c``
        is the share of the positives that is labeled. So the ratio ``M(t) / L(t)`` of the
        missing entries to the labeled positives above ``t`` (pooled over classes) bounds
        ``(1 − c) / c`` from above, with equality where no negative scores that high (the bound
        of mixture-proportion estimation, Scott, AISTATS 2015). The estimate takes ``t`` at the
        top ``top_share`` of the labeled positives and reports ``1 − c``. It leans high when
        negatives score as high as the best-scored positives (a weak model; a larger
        ``top_share`` leans higher) and is noisy when that top holds few labeled positives. The
        threshold is fixed, not the ratio's minimum over thresholds: that minimum picks a lucky
        dip of the counts and falls well below the truth even for a perfect model.

The interval is the percentile bootstrap over clips: clips are resampled with replacement and
the whole estimate (thresholds and calibration included) is computed again.

Examples
--------
>>> import numpy as np
>>> from earmark.data.labels import Labels
>>> labels = Labels.from_lists(["c0", "c1", "c2", "c3", "c4"], [["a"], ["a"], ["b"], ["b"], ["c"]])
>>> scores = np.eye(3)[[0, 0, 1, 2, 2]] * 0.8 + 0.1
>>> estimate_noise_rate(labels, scores, prior_clips=0, resamples=0).rate
0.2

Clip ``c3`` is labeled ``b`` but scored ``c``: one of class b's two labels is disputed, the other
confirmed, so half of b's labels and none of the others are estimated wrong: 1 of 5.

"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Literal

import numpy as np

from earmark.audit.noisy import PRIOR_CLIPS, class_thresholds
from earmark.audit.table import AuditError
from earmark.data.labels import Labels

__all__ = ["MISSING_METHODS", "RateEstimate", "estimate_missing_rate", "estimate_noise_rate"]

MissingMethod = Literal["auto", "calibrated", "top_bin"]
MISSING_METHODS: tuple[str, ...] = ("auto", "calibrated", "top_bin")
_LOGIT_CLIP = 1e-6
_RIDGE = 1e-6


@dataclasses.dataclass(frozen=True)
class RateEstimate:
    """A rate with its bootstrap interval.

    Attributes
    ----------
    rate : float
        The point estimate, a share in [0, 1].
    low, high : float
        The bounds of the percentile bootstrap interval over clips (``confidence``, 95 % by
        default); both equal ``rate`` when no resampling was asked for.
    method : str
        ``confident_joint``, ``calibrated`` or ``top_bin``.
    n : int
        The clips the estimate (and the bootstrap) is over.

    """

    rate: float
    low: float
    high: float
    method: str
    n: int

    def __str__(self) -> str:
        """``12.3 % (95 % interval 10.1–14.2 %; confident_joint over 493 clips)``."""
        return (
            f"{100 * self.rate:.1f} % (interval {100 * self.low:.1f}–{100 * self.high:.1f} %; "
            f"{self.method} over {self.n} clips)"
        )


def _check(labels: Labels, scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != labels.positive.shape:
        raise AuditError(
            f"scores have shape {scores.shape}, the labels (clips, classes) {labels.positive.shape}"
        )
    if not np.isfinite(scores).all():
        raise AuditError("the scores hold NaN or infinite values")
    if scores.size and (scores.min() < 0.0 or scores.max() > 1.0):
        raise AuditError(
            f"the scores must be probabilities in [0, 1], got values from {scores.min():g} "
            f"to {scores.max():g}"
        )
    return scores


def _bootstrap(
    statistic: Callable[[np.ndarray], float],
    num_clips: int,
    *,
    method: str,
    resamples: int,
    confidence: float,
    seed: int,
) -> RateEstimate:
    """``statistic(clip_weights)`` on the data and on ``resamples`` resamples of its clips."""
    if resamples < 0:
        raise AuditError(f"resamples must be >= 0, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise AuditError(f"confidence must be in (0, 1), got {confidence}")
    rate = statistic(np.ones(num_clips))
    if resamples == 0:
        return RateEstimate(rate, rate, rate, method, num_clips)
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            statistic(rng.multinomial(num_clips, np.full(num_clips, 1.0 / num_clips)).astype(np.float64))
            for _ in range(resamples)
        ]
    )
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.nanpercentile(draws, [tail, 100.0 - tail])
    return RateEstimate(rate, float(low), float(high), method, num_clips)


# ---------------------------------------------------------------------------------- noisy labels
def _judged(
    positive: np.ndarray, scores: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(disputed, confirmed)``, each ``(clips, classes)`` bool over the positive entries."""
    reaches = scores >= thresholds[None, :]
    rival = np.where(reaches & ~positive, scores, -np.inf).max(1, initial=-np.inf)[:, None]
    single = positive.sum(1, keepdims=True) == 1  # cleanlab's argmax rule; several labels may coexist
    disputed = positive & np.isfinite(rival) & (~reaches | (single & (rival > scores)))
    return disputed, positive & reaches & ~disputed


def _noise_share(positive: np.ndarray, scores: np.ndarray, weights: np.ndarray, prior_clips: float) -> float:
    thresholds = class_thresholds(positive, scores, prior_clips=prior_clips, weights=weights)
    disputed, confirmed = _judged(positive, scores, thresholds)
    w = weights[:, None]
    wrong, right, given = (disputed * w).sum(0), (confirmed * w).sum(0), (positive * w).sum(0)
    judged = wrong + right
    pooled = wrong.sum() / judged.sum() if judged.sum() > 0 else 0.0
    share = np.where(judged > 0, wrong / np.where(judged > 0, judged, 1.0), pooled)
    return float((share * given).sum() / given.sum()) if given.sum() > 0 else 0.0


def estimate_noise_rate(
    labels: Labels,
    scores: np.ndarray,
    *,
    prior_clips: float = PRIOR_CLIPS,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> RateEstimate:
    """The share of ``labels``' positive labels that are wrong (module docstring: the method).

    Parameters
    ----------
    labels : Labels
        The audited clips; their positives are the labels judged. Clips without a positive
        count in the thresholds of no class and in no share.
    scores : (clips, classes) float
        Out-of-fold probabilities in ``labels``' clip and class order.
    prior_clips : float
        Shrinkage of the class thresholds (:func:`~earmark.audit.noisy.class_thresholds`).
    resamples : int
        Bootstrap resamples of the clips (0: no interval).
    confidence : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seeds the resampling.

    Returns
    -------
    RateEstimate
        ``method="confident_joint"``; ``n`` = the clips of ``labels``.

    """
    scores = _check(labels, scores)
    positive = labels.positive
    if not positive.any():
        raise AuditError("the labels hold no positive label to judge")
    if prior_clips < 0:
        raise AuditError(f"prior_clips must be >= 0, got {prior_clips}")
    return _bootstrap(
        lambda weights: _noise_share(positive, scores, weights, prior_clips),
        labels.num_clips,
        method="confident_joint",
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )


# -------------------------------------------------------------------------------- missing labels
def _platt(logits: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted maximum-likelihood ``(a, b)`` of ``σ(a · logit + b)`` by Newton's method."""
    a, b = 1.0, 0.0
    design = np.stack([logits, np.ones_like(logits)], axis=1)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(a * logits + b)))
        gradient = design.T @ (weights * (targets - p)) - _RIDGE * np.array([a - 1.0, b])
        curvature = (design * (weights * p * (1.0 - p))[:, None]).T @ design + _RIDGE * np.eye(2)
        step = np.linalg.solve(curvature, gradient)
        a, b = a + float(step[0]), b + float(step[1])
        if np.abs(step).max() < 1e-10:
            break
    return a, b


def _calibrated_share(labels: Labels, scores: np.ndarray, weights: np.ndarray) -> float:
    annotated, positive = labels.annotated, labels.positive
    logits = np.log(np.clip(scores, _LOGIT_CLIP, 1.0 - _LOGIT_CLIP) / np.clip(1.0 - scores, _LOGIT_CLIP, 1.0))
    entry_weights = np.broadcast_to(weights[:, None], scores.shape)
    a, b = _platt(logits[annotated], positive[annotated].astype(np.float64), entry_weights[annotated])
    missing = ~annotated
    hidden = float((entry_weights[missing] / (1.0 + np.exp(-(a * logits[missing] + b)))).sum())
    labeled = float((positive * entry_weights).sum())
    return hidden / (hidden + labeled) if hidden + labeled > 0 else 0.0


def _top_bin_share(labels: Labels, scores: np.ndarray, top_share: float) -> Callable[[np.ndarray], float]:
    """The ``top_bin`` statistic of clip weights, over the entries sorted once by descending score.

    The candidates are the labeled positives and the missing entries; a threshold falls only
    between distinct scores (``ends``: the last index of each run of ties).
    """
    rows, cols = np.nonzero(labels.positive | labels.missing)
    order = np.argsort(-scores[rows, cols], kind="stable")
    rows, cols = rows[order], cols[order]
    is_labeled = labels.positive[rows, cols]
    sorted_scores = scores[rows, cols]
    ends = np.flatnonzero(np.append(sorted_scores[1:] != sorted_scores[:-1], True))

    def statistic(weights: np.ndarray) -> float:
        w = weights[rows]
        labeled = np.cumsum(np.where(is_labeled, w, 0.0))[ends]
        missing = np.cumsum(np.where(is_labeled, 0.0, w))[ends]
        if labeled[-1] <= 0:  # a resample without a labeled positive: no ratio to take
            return float("nan")
        top = int(np.argmax(labeled >= top_share * labeled[-1]))
        ratio = float(missing[top] / labeled[top])
        return ratio / (1.0 + ratio)

    return statistic


def estimate_missing_rate(
    labels: Labels,
    scores: np.ndarray,
    *,
    method: MissingMethod = "auto",
    top_share: float = 0.1,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> RateEstimate:
    """The share of the true positives of ``labels`` that are missing (module docstring: methods).

    Parameters
    ----------
    labels : Labels
        The audited clips; their missing entries (not annotated) may hide positives.
    scores : (clips, classes) float
        Out-of-fold probabilities in ``labels``' clip and class order.
    method : str
        ``calibrated`` (needs annotated negatives), ``top_bin``, or ``auto``: ``top_bin`` for
        positives-only labels, ``calibrated`` otherwise.
    top_share : float in (0, 1]
        ``top_bin``: the threshold is the highest score that keeps at least this share of the
        labeled positives above it (1: the lowest-scored labeled positive).
    resamples : int
        Bootstrap resamples of the clips (0: no interval).
    confidence : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seeds the resampling.

    Returns
    -------
    RateEstimate
        ``rate`` = hidden positives / (hidden + labeled positives); exactly 0 when no entry is
        missing. ``n`` = the clips of ``labels``.

    """
    scores = _check(labels, scores)
    if method not in MISSING_METHODS:
        raise AuditError(f"unknown method {method!r}; valid methods: {', '.join(MISSING_METHODS)}")
    if not 0.0 < top_share <= 1.0:
        raise AuditError(f"top_share must be in (0, 1], got {top_share}")
    if not labels.positive.any():
        raise AuditError("the labels hold no positive: the share of positives missing is undefined")
    annotated_negatives = bool((labels.annotated & ~labels.positive).any())
    chosen = method if method != "auto" else ("calibrated" if annotated_negatives else "top_bin")
    if not labels.missing.any():
        return RateEstimate(0.0, 0.0, 0.0, chosen, labels.num_clips)
    if chosen == "calibrated" and not annotated_negatives:
        raise AuditError(
            "method 'calibrated' needs annotated negatives to fit its calibration on; these labels "
            "are positives only: use method 'top_bin'"
        )
    statistic: Callable[[np.ndarray], float] = (
        functools.partial(_calibrated_share, labels, scores)
        if chosen == "calibrated"
        else _top_bin_share(labels, scores, top_share)
    )
    return _bootstrap(
        statistic, labels.num_clips, method=chosen, resamples=resamples, confidence=confidence, seed=seed
    )
