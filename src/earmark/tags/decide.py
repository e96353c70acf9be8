"""Stage III's decision rules: which target, if any, a tag's distances to the targets choose.

Pure functions on a ``(targets, tags)`` array of L2 distances between unit vectors (so a
distance ``d`` is the cosine similarity ``1 - d²/2``):

- ``percentile`` (the thesis's rule, the default): for each target, a normal is fitted to its
  distances to the tags; a tag closer than that normal's ``percentile``-th percentile (0.1 %
  by default, about 3.09 standard deviations below the mean) is *claimed* by the target; a tag
  claimed by several targets goes to the nearest (:func:`percentile_assign`);
- ``margin``: the nearest target wins when its similarity beats the second-nearest's by at
  least ``margin`` and is at least ``min_similarity`` (a near-synonym that is clearly closer to
  one target than to any other, though under the fixed percentile: ``amorous`` → romantic);
- ``both``: the percentile rule's target, else the margin rule's.

With ``multi``, every target that claims a tag under the percentile rule counts (the margin
rule names one target by construction).
"""

from __future__ import annotations

import dataclasses
from statistics import NormalDist

import numpy as np

__all__ = [
    "DECISION_RULES",
    "DEFAULT_MARGIN",
    "DEFAULT_MIN_SIMILARITY",
    "DEFAULT_PERCENTILE",
    "Decision",
    "PercentileAssignment",
    "check_percentile",
    "decide",
    "parent_placement",
    "percentile_assign",
]

DECISION_RULES: tuple[str, ...] = ("percentile", "margin", "both")
DEFAULT_PERCENTILE = 0.1
#: The margin rule's settings, chosen on the tuning half of the thesis's stage III map by
#: ``benchmarks/tags_collapse.py`` (the best F1 of a 3 x 3 grid, at its loosest corner; see the
#: folksonomy section of ``benchmarks/RESULTS.md``).
DEFAULT_MARGIN = 0.03
DEFAULT_MIN_SIMILARITY = 0.45


def check_percentile(percentile: float) -> float:
    """``percentile`` if it lies in (0, 50) percent, else a ValueError saying so."""
    if not 0.0 < percentile < 50.0:
        raise ValueError(f"percentile must be in (0, 50) percent, got {percentile}")
    return float(percentile)


@dataclasses.dataclass(frozen=True)
class PercentileAssignment:
    """The result of :func:`percentile_assign`.

    Attributes
    ----------
    target
        (n,) int64: the target index of each tag, -1 for none.
    distance
        (n,) float64: the distance to that target (to the nearest target when none).
    threshold
        (k,) float64: each target's distance threshold.
    mean, std
        (k,) float64: each target's fitted normal.
    claims
        (n,) int64: how many targets claimed each tag.
    claimed
        (k, n) bool: which targets claimed which tags.

    """

    target: np.ndarray
    distance: np.ndarray
    threshold: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    claims: np.ndarray
    claimed: np.ndarray

    def z_score(self, tag: int) -> float:
        """Standard score of tag ``tag`` under its target's normal (NaN without a target)."""
        j = int(self.target[tag])
        if j < 0 or self.std[j] == 0:
            return float("nan")
        return float((self.distance[tag] - self.mean[j]) / self.std[j])


def _masks(n: int, fit: np.ndarray | None, eligible: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    fit_mask = np.ones(n, dtype=bool) if fit is None else np.asarray(fit, dtype=bool)
    ok = np.ones(n, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    if fit_mask.shape != (n,) or ok.shape != (n,):
        raise ValueError(f"fit and eligible must be ({n},) bool masks")
    return fit_mask, ok


def _checked(distances: np.ndarray) -> np.ndarray:
    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2:
        raise ValueError(f"distances must be (targets, tags), got shape {distances.shape}")
    if not np.isfinite(distances).all():
        raise ValueError("distances must be finite")
    return distances


def percentile_assign(
    distances: np.ndarray,
    *,
    percentile: float = DEFAULT_PERCENTILE,
    fit: np.ndarray | None = None,
    eligible: np.ndarray | None = None,
) -> PercentileAssignment:
    """Assign tags to targets by the percentile rule.

    Parameters
    ----------
    distances
        (k, n) distances of k targets to n tags.
    percentile
        in percent, in (0, 50): a tag collapses into a target when its distance is below the
        ``percentile``-th percentile of the normal fitted to that target's distances.
    fit
        (n,) bool: the tags whose distances the normals are fitted on (default all).
    eligible
        (n,) bool: the tags that may be assigned (default all); others get -1.

    Returns
    -------
    :class:`PercentileAssignment`. A target whose distances do not vary (standard deviation 0)
    claims nothing; with fewer than two fitted tags nothing is claimed.

    """
    distances = _checked(distances)
    k, n = distances.shape
    fit_mask, ok = _masks(n, fit, eligible)
    z = NormalDist().inv_cdf(check_percentile(percentile) / 100.0)
    fitted = distances[:, fit_mask]
    if fitted.shape[1] >= 2:
        mean, std = fitted.mean(axis=1), fitted.std(axis=1)
    else:
        mean, std = np.zeros(k), np.zeros(k)
    threshold = np.where(std > 0, mean + z * std, -np.inf)
    claimed = (distances < threshold[:, None]) & ok[None, :]
    masked = np.where(claimed, distances, np.inf)
    nearest = masked.argmin(axis=0) if k else np.zeros(n, dtype=np.int64)
    has = claimed.any(axis=0)
    target = np.where(has, nearest, -1).astype(np.int64)
    closest = distances.min(axis=0) if k else np.full(n, np.nan)
    distance = np.where(has, masked.min(axis=0) if k else np.nan, closest)
    claims = claimed.sum(axis=0).astype(np.int64)
    return PercentileAssignment(target, distance, threshold, mean, std, claims, claimed)


@dataclasses.dataclass(frozen=True)
class Decision:
    """The result of :func:`decide`.

    Attributes
    ----------
    target
        (n,) int64: the chosen target of each tag, -1 for none.
    rule
        (n,) object: ``percentile``, ``margin`` or "" (no target), per tag.
    similarity
        (n,) float64: cosine similarity to the nearest target.
    margin
        (n,) float64: that similarity minus the second-nearest's (inf with one target).
    percentile
        the :class:`PercentileAssignment` (thresholds, fitted normals, claims).
    distances
        (k, n) float64: the distances decided on.
    eligible
        (n,) bool: the tags that could be assigned.

    """

    target: np.ndarray
    rule: np.ndarray
    similarity: np.ndarray
    margin: np.ndarray
    percentile: PercentileAssignment
    distances: np.ndarray
    eligible: np.ndarray

    def targets_of(self, tag: int, multi: bool) -> list[int]:
        """Target indices of tag ``tag``: its chosen one, or with ``multi`` every claim, nearest first."""
        chosen = int(self.target[tag])
        if chosen < 0:
            return []
        if not multi or self.rule[tag] != "percentile":
            return [chosen]
        claims = np.flatnonzero(self.percentile.claimed[:, tag])
        return [int(j) for j in claims[np.argsort(self.distances[claims, tag], kind="stable")]]


def decide(
    distances: np.ndarray,
    *,
    rule: str = "percentile",
    percentile: float = DEFAULT_PERCENTILE,
    margin: float = DEFAULT_MARGIN,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    fit: np.ndarray | None = None,
    eligible: np.ndarray | None = None,
) -> Decision:
    """Choose a target per tag by ``rule`` (see the module's docstring).

    Parameters
    ----------
    distances
        (k, n) L2 distances of k targets to n tags, unit vectors (in [0, 2]).
    rule
        one of :data:`DECISION_RULES`.
    percentile, fit, eligible
        see :func:`percentile_assign`.
    margin
        cosine similarity by which the nearest target must beat the second-nearest, in [0, 2].
    min_similarity
        the least cosine similarity the margin rule accepts, in [-1, 1].

    Returns
    -------
    :class:`Decision`.

    """
    if rule not in DECISION_RULES:
        raise ValueError(f"unknown decision rule {rule!r}; valid rules: {', '.join(DECISION_RULES)}")
    if not 0.0 <= margin <= 2.0 or not -1.0 <= min_similarity <= 1.0:
        raise ValueError(
            f"margin must be in [0, 2] and min_similarity in [-1, 1], got {margin}, {min_similarity}"
        )
    distances = _checked(distances)
    k, n = distances.shape
    by_percentile = percentile_assign(distances, percentile=percentile, fit=fit, eligible=eligible)
    _, ok = _masks(n, fit, eligible)
    similarity = 1.0 - distances**2 / 2.0
    if k:
        order = np.argsort(-similarity, axis=0, kind="stable")
        nearest = order[0]
        best = similarity[nearest, np.arange(n)]
        second = similarity[order[1], np.arange(n)] if k > 1 else np.full(n, -np.inf)
    else:
        nearest, best, second = np.zeros(n, dtype=np.int64), np.full(n, np.nan), np.full(n, np.nan)
    gap = best - second
    by_margin = ok & (gap >= margin) & (best >= min_similarity) if k else np.zeros(n, dtype=bool)
    target = np.full(n, -1, dtype=np.int64)
    chosen = np.full(n, "", dtype=object)
    if rule in ("margin", "both"):
        target = np.where(by_margin, nearest, -1).astype(np.int64)
        chosen[by_margin] = "margin"
    if rule in ("percentile", "both"):
        has = by_percentile.target >= 0
        target = np.where(has, by_percentile.target, target)
        chosen[has] = "percentile"
    return Decision(target, chosen, best, gap, by_percentile, distances, ok)


def parent_placement(decision: Decision, parents: np.ndarray, percentile: float) -> np.ndarray:
    """Place tags the rule left under the parent of their nearest target.

    Parameters
    ----------
    decision
        the result of :func:`decide`.
    parents
        (k,) int: each target's parent index, -1 for none.
    percentile
        in percent, in (0, 50): the tag must lie below this (looser) percentile of its nearest
        target's fitted normal.

    Returns
    -------
    (n,) int64: the parent index of each placed tag, -1 elsewhere (and for every tag the rule
    assigned or that was not eligible).

    """
    z = NormalDist().inv_cdf(check_percentile(percentile) / 100.0)
    fitted = decision.percentile
    threshold = np.where(fitted.std > 0, fitted.mean + z * fitted.std, -np.inf)
    if not decision.distances.shape[0]:
        return np.full(decision.distances.shape[1], -1, dtype=np.int64)
    nearest = decision.distances.argmin(axis=0)
    close = decision.distances.min(axis=0) < threshold[nearest]
    placed = (decision.target < 0) & decision.eligible & close & (np.asarray(parents)[nearest] >= 0)
    return np.where(placed, np.asarray(parents)[nearest], -1).astype(np.int64)
