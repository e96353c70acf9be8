"""Suspected wrong labels: positives that out-of-fold scores disagree with, and junk clips.

The scores must come from models that never saw the audited clips' labels (out-of-fold: see
:mod:`earmark.pipeline.oof`), or a model simply repeats the labels it was trained on.

Scores are first put on each class's own scale: ``q = p / t_c``, where the class threshold
``t_c`` is the mean score of the class over the clips labeled with it (the per-class threshold
of confident learning), shrunk towards the mean over every label by ``prior_clips`` pseudo-clips
so that a class with a handful of clips does not get a threshold near zero. A class the model is
timid about is then not flagged more than a bold one. For each positive entry ``(i, c)`` the
suspicion is (``method``):

``calibrated_margin`` (the default)
    ``log(max_{c' ≠ c} q_ic') − log(q_ic)``: how many times more believable the clip's best other
    class is than its label, in nats; positive means another class wins.
``margin``
    ``max_{c' ≠ c} p_ic' − p_ic`` on the raw scores.
``self_confidence``
    ``1 − p_ic``.

A clip none of whose classes reaches ``junk_below`` of its class threshold (``max_c q_ic <
junk_below``) is suspected junk (silent, low quality, or unrelated to every class): one
``blacklist`` item, ranked by the larger of its labels' suspicion and its junk score
``−log(max_c q_ic)`` (both in nats; with the other methods, by its labels' suspicion). Every
other clip gets one ``remove`` item per positive whose suspicion exceeds ``min_score``. The audit
lists them most suspicious first.

Which clips to act on without listening (:func:`confident_flags`): confident learning's rule, a
label below its class threshold while another class reaches its own (``q_ic < 1 ≤ max_{c' ≠ c}
q_ic'``), and the junk clips. It flags about as many clips as the scores suggest are wrong, where
"suspicion above 0" flags every clip whose label is not the most believable class.

Examples
--------
>>> import numpy as np
>>> positive = np.array([[True, False], [False, True], [True, False]])
>>> scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
>>> clip_suspicion(positive, scores, prior_clips=0).round(2).tolist()
[-0.81, 0.0, 0.54]

The third clip is the most suspicious: its label scores 0.7 against 0.3, but 0.7 is below what
the model usually gives that class (0.8) and 0.3 above what it gives the other (0.2).

"""

from __future__ import annotations

from typing import Literal

import numpy as np

from earmark.audit.missing import rank_within_class
from earmark.audit.table import AuditItem, format_top
from earmark.data.labels import Labels

__all__ = [
    "NOISY_METHODS",
    "PRIOR_CLIPS",
    "class_thresholds",
    "clip_suspicion",
    "confident_flags",
    "junk_scores",
    "label_suspicion",
    "suspected_noisy",
]

Method = Literal["calibrated_margin", "margin", "self_confidence"]
NOISY_METHODS: tuple[str, ...] = ("calibrated_margin", "margin", "self_confidence")
#: Pseudo-clips at the mean score of every label that each class threshold is shrunk with.
PRIOR_CLIPS = 5.0
_EPSILON = 1e-6
_MIN_THRESHOLD = 1e-3


def _check(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    positive = np.asarray(positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if positive.shape != scores.shape or scores.ndim != 2:
        raise ValueError(
            f"scores {scores.shape} and labels {positive.shape} must be one (clips, classes) shape"
        )
    if not np.isfinite(scores).all():
        raise ValueError("the scores hold NaN or infinite values")
    return positive, scores


def class_thresholds(
    positive: np.ndarray,
    scores: np.ndarray,
    *,
    prior_clips: float = PRIOR_CLIPS,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Per class, the mean score over the clips labeled with it, shrunk towards the overall mean.

    ``t_c = (Σ_{i labeled c} p_ic + m · t̄) / (n_c + m)`` with ``m = prior_clips`` and ``t̄`` the
    mean score over every positive entry (0.5 when there is none).

    Parameters
    ----------
    positive : (clips, classes) bool
        The labels.
    scores : (clips, classes) float
        Probabilities.
    prior_clips : float
        ``m``; 0 gives the plain means (a class with no labeled clip then gets ``t̄``).
    weights : (clips,) float, optional
        Each clip counts this many times (a bootstrap resample's counts); default once.

    Returns
    -------
    (classes,) float64, at least 0.001.

    """
    positive, scores = _check(positive, scores)
    if prior_clips < 0:
        raise ValueError(f"prior_clips must be >= 0, got {prior_clips}")
    clip_weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    counts = (positive * clip_weights[:, None]).sum(0)
    sums = (scores * positive * clip_weights[:, None]).sum(0)
    overall = float(sums.sum() / counts.sum()) if counts.sum() else 0.5
    weight = counts + prior_clips
    safe = np.where(weight > 0, weight, 1.0)
    thresholds = np.where(weight > 0, (sums + prior_clips * overall) / safe, overall)
    return np.asarray(np.maximum(thresholds, _MIN_THRESHOLD))


def _calibrated(positive: np.ndarray, scores: np.ndarray, prior_clips: float = PRIOR_CLIPS) -> np.ndarray:
    return np.asarray(scores / class_thresholds(positive, scores, prior_clips=prior_clips)[None, :])


def _best_other(values: np.ndarray) -> np.ndarray:
    """``(clips, classes)``: per entry, the largest value of the clip's other classes."""
    if values.shape[1] < 2:
        return np.full(values.shape, -np.inf)
    order = np.sort(values, axis=1)
    first, second = order[:, -1:], order[:, -2:-1]
    return np.where(values >= first, second, first)


def label_suspicion(
    positive: np.ndarray,
    scores: np.ndarray,
    *,
    method: Method = "calibrated_margin",
    prior_clips: float = PRIOR_CLIPS,
) -> np.ndarray:
    """How suspicious each positive label is; higher is more suspicious.

    Parameters
    ----------
    positive : (clips, classes) bool
        The labels under audit.
    scores : (clips, classes) float
        Out-of-fold probabilities.
    method : str
        ``calibrated_margin``, ``margin`` or ``self_confidence`` (see the module).
    prior_clips : float
        See :func:`class_thresholds`.

    Returns
    -------
    (clips, classes) float64, NaN where the entry is not positive.

    """
    positive, scores = _check(positive, scores)
    if method == "calibrated_margin":
        calibrated = np.log(_calibrated(positive, scores, prior_clips) + _EPSILON)
        value = _best_other(calibrated) - calibrated
    elif method == "margin":
        value = _best_other(scores) - scores
    elif method == "self_confidence":
        value = 1.0 - scores
    else:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(NOISY_METHODS)}")
    return np.asarray(np.where(positive, value, np.nan))


def junk_scores(positive: np.ndarray, scores: np.ndarray, *, prior_clips: float = PRIOR_CLIPS) -> np.ndarray:
    """``(clips,)`` ``−log(max_c q_ic)``: how far below every class's threshold a clip stays."""
    positive, scores = _check(positive, scores)
    return np.asarray(-np.log(_calibrated(positive, scores, prior_clips).max(1) + _EPSILON))


def _is_junk(junk: np.ndarray, junk_below: float) -> np.ndarray:
    if not 0.0 <= junk_below < 1.0:
        raise ValueError(f"junk_below must be in [0, 1), got {junk_below}")
    if junk_below == 0.0:
        return np.zeros(len(junk), dtype=bool)
    return np.asarray(junk > -np.log(junk_below))


def confident_flags(
    positive: np.ndarray,
    scores: np.ndarray,
    *,
    junk_below: float = 0.25,
    prior_clips: float = PRIOR_CLIPS,
) -> np.ndarray:
    """``(clips,)`` bool: the clips to act on without listening (confident learning's rule).

    A clip is flagged when one of its labels scores below its class threshold while another
    class reaches its own (``q_ic < 1 ≤ max_{c' ≠ c} q_ic'``), or when it is junk.
    """
    positive, scores = _check(positive, scores)
    calibrated = _calibrated(positive, scores, prior_clips)
    disputed = positive & (calibrated < 1.0) & (_best_other(calibrated) >= 1.0)
    junk = _is_junk(junk_scores(positive, scores, prior_clips=prior_clips), junk_below)
    return np.asarray(disputed.any(1) | junk)


def clip_suspicion(
    positive: np.ndarray,
    scores: np.ndarray,
    *,
    method: Method = "calibrated_margin",
    junk_below: float = 0.25,
    prior_clips: float = PRIOR_CLIPS,
) -> np.ndarray:
    """``(clips,)`` suspicion of each clip: its most suspicious label, or its junk score.

    Clips with no positive label get ``-inf`` unless they are junk. Ranking clips by this value
    is the ranking of :func:`suspected_noisy` with one row per clip.
    """
    positive = np.asarray(positive, dtype=bool)
    per_label = label_suspicion(positive, scores, method=method, prior_clips=prior_clips)
    with np.errstate(all="ignore"):
        worst = np.where(positive.any(1), np.nanmax(np.where(positive, per_label, -np.inf), axis=1), -np.inf)
    junk = junk_scores(positive, scores, prior_clips=prior_clips)
    return _junk_ranked(worst, junk, _is_junk(junk, junk_below), method)


def _junk_ranked(worst: np.ndarray, junk: np.ndarray, is_junk: np.ndarray, method: str) -> np.ndarray:
    """A junk clip's suspicion, from its labels' (``worst``) and its junk score.

    The larger of the two with ``calibrated_margin`` (both in nats); the labels' suspicion with
    the other methods, whose units the junk score does not share.
    """
    if method != "calibrated_margin":
        return np.asarray(np.where(is_junk & ~np.isfinite(worst), junk, worst))
    return np.asarray(np.where(is_junk, np.maximum(junk, worst), worst))


def suspected_noisy(
    labels: Labels,
    scores: np.ndarray,
    *,
    method: Method = "calibrated_margin",
    junk_below: float = 0.25,
    min_score: float = 0.0,
    limit: int | None = None,
    prior_clips: float = PRIOR_CLIPS,
) -> list[AuditItem]:
    """The suspected wrong positives and junk clips of ``labels``, most suspicious first.

    Parameters
    ----------
    labels : Labels
        The audited clips (their positives are what is audited).
    scores : (clips, classes) float
        Out-of-fold probabilities in ``labels``' clip and class order.
    method : str
        How a label's suspicion is measured (module docstring).
    junk_below : float
        A clip whose every class stays below this share of its class threshold is suggested
        for ``blacklist``; 0 turns junk detection off.
    min_score : float
        ``remove`` items need a suspicion above this (0 with the margins: another class is
        more believable than the label).
    limit : int, optional
        Keep at most this many items.
    prior_clips : float
        See :func:`class_thresholds`.

    Returns
    -------
    Audit items (``remove`` or ``blacklist``), by descending suspicion (ties: clip, class).

    """
    positive, scores = _check(labels.positive, scores)
    per_label = label_suspicion(positive, scores, method=method, prior_clips=prior_clips)
    junk = junk_scores(positive, scores, prior_clips=prior_clips)
    is_junk = _is_junk(junk, junk_below)
    flagged = positive & ~is_junk[:, None] & (np.nan_to_num(per_label, nan=-np.inf) > min_score)
    ranks = rank_within_class(np.nan_to_num(per_label, nan=-np.inf), flagged)
    with np.errstate(all="ignore"):
        worst = np.nanmax(np.where(positive, per_label, -np.inf), axis=1)
    ranked = _junk_ranked(worst, junk, is_junk, method)
    names = labels.class_names
    items = [
        AuditItem(
            clip=str(labels.clip_ids[i]),
            class_name="",
            suggestion="blacklist",
            score=float(ranked[i]),
            top=format_top(names, scores[i]),
        )
        for i in np.flatnonzero(is_junk)
    ]
    for i, c in zip(*np.nonzero(flagged), strict=True):
        items.append(
            AuditItem(
                clip=str(labels.clip_ids[i]),
                class_name=names[c],
                suggestion="remove",
                score=float(per_label[i, c]),
                class_rank=int(ranks[i, c]),
                model_score=float(scores[i, c]),
                top=format_top(names, scores[i]),
            )
        )
    items.sort(key=lambda item: (-item.score, item.clip, item.class_name))
    return items if limit is None else items[:limit]
