"""How many of a class's missing entries are positives, estimated from a B0 teacher's scores.

Label enhancement with ``gamma: auto`` masks, per class, the share of missing entries this
estimate gives, instead of one γ for every class. The estimator is Elkan and Noto's ("Learning
Classifiers from Only Positive and Unlabeled Data", KDD 2008), for a teacher trained with
missing = negative (B0), whose probability ``g`` of an entry estimates
``P(annotated positive | clip)``:

* ``c``, the probability that a positive entry is annotated, is the mean of ``g`` over the
  class's annotated positives (their estimator e1; it assumes the entries that went missing
  were chosen independently of the clip, given the class);
* ``P(positive | clip) = g / c``. For a class with explicit negatives, whose missing entries
  were dropped independently of their value, that is the probability a missing entry is
  positive; for a positives-only class (no entry annotated negative), where "missing" covers
  every negative too, it is ``(1 − c) / c · g / (1 − g)``. Each is clipped to [0, 1].

The expected number of missing positives of the class is the sum of these probabilities over
its missing entries; the share to mask is that sum over the number of missing entries.

A caveat that matters: the teacher scores the clips it was trained on. Where it memorised them,
``g`` is near 1 on annotated positives and near 0 on missing ones, so ``c`` is near 1 and the
estimate near 0 (label enhancement then masks little, towards B0). A teacher with early
stopping on a validation split, or out-of-fold scores, memorises less; the estimate is written
to ``enhancement.json`` per class so its size can be checked.
"""

from __future__ import annotations

import numpy as np

__all__ = ["missing_positive_shares"]

# g is kept inside [ε, 1 − ε] (the odds of a certain g are infinite)
_EPSILON = 1e-6


def missing_positive_shares(
    scores: np.ndarray, positive: np.ndarray, annotated: np.ndarray
) -> dict[str, np.ndarray]:
    """Per class, the estimated share of missing entries that are positives (module docstring).

    Parameters
    ----------
    scores : (clips, classes) float
        The B0 teacher's probabilities.
    positive, annotated : (clips, classes) bool
        The training labels.

    Returns
    -------
    dict of (classes,) arrays
        ``share`` (in [0, 1]; 0 for a class with no missing entry or no annotated positive),
        ``expected_missing_positives`` (the sum behind it), ``labeled_rate`` (``c``, NaN without
        annotated positives) and ``positives_only`` (bool).

    Examples
    --------
    >>> scores = np.array([[0.6], [0.3], [0.0], [0.3]])
    >>> positive = np.array([[True], [False], [False], [False]])
    >>> annotated = np.array([[True], [False], [True], [False]])
    >>> out = missing_positive_shares(scores, positive, annotated)
    >>> out["labeled_rate"].tolist(), out["share"].round(3).tolist()
    ([0.6], [0.5])

    """
    g = np.clip(np.asarray(scores, dtype=np.float64), _EPSILON, 1.0 - _EPSILON)
    positive, annotated = np.asarray(positive, dtype=bool), np.asarray(annotated, dtype=bool)
    if g.shape != positive.shape or g.shape != annotated.shape or g.ndim != 2:
        raise ValueError(
            f"scores {g.shape}, positive {positive.shape} and annotated {annotated.shape} must be "
            "one (clips, classes) shape"
        )
    if np.isnan(g).any():
        raise ValueError("the teacher's scores hold NaN")
    missing = ~annotated
    count = positive.sum(0)
    rate = np.where(count > 0, (g * positive).sum(0) / np.maximum(count, 1), np.nan)
    positives_only = ~(annotated & ~positive).any(0)
    safe = np.where(np.isnan(rate), 1.0, rate)[None, :]
    probability = np.where(positives_only[None, :], (1.0 - safe) / safe * g / (1.0 - g), g / safe)
    probability = np.clip(probability, 0.0, 1.0) * missing
    probability[:, np.isnan(rate)] = 0.0
    expected = probability.sum(0)
    share = expected / np.maximum(missing.sum(0), 1)
    return {
        "share": share,
        "expected_missing_positives": expected,
        "labeled_rate": rate,
        "positives_only": positives_only,
    }
