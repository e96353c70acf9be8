"""Label enhancement masks: which missing entries a skeptical teacher takes out of the loss.

Both published forms are one operation, "per class, flag the highest-scored share of the
missing entries", with two ways to state the share:

* Gururani & Lerch (OpenMIC-2018, SONYC-UST): ``gamma`` is a percentile of each class's
  missing-entry scores; entries scored at or above it are masked, so the share is
  ``1 - gamma / 100`` (γ = 10 on OpenMIC masks 90 % of the missing entries, γ = 95 on SONYC-UST
  masks 5 %);
* Fonseca et al. (AudioSet, positives only): ``percent`` of each class's implicit negatives,
  the top-scored ones, are flagged (0 to 20 %; about 1 % gave most of the gain).

The count per class is ``floor(n · share + 0.5)`` of its ``n`` missing entries. When that count
is zero, nothing is flagged: the released code's ``sorted[-0:]`` flagged every entry instead.
Ties at the boundary are broken by clip order, so the count is exact.
"""

from __future__ import annotations

import numpy as np

__all__ = ["enhancement_counts", "flag_missing_entries"]


def enhancement_counts(missing: np.ndarray, share: float | np.ndarray) -> np.ndarray:
    """Entries to flag per class: ``floor(n_c · share + 0.5)`` of the ``n_c`` missing ones.

    Parameters
    ----------
    missing : (clips, classes) bool
        True where the entry is missing (for positives-only data: every non-positive entry).
    share : float in [0, 1], or (classes,) such floats
        The share of each class's missing entries to flag (one for all classes, or per class).

    Returns
    -------
    (classes,) int64

    """
    shares = np.asarray(share, dtype=np.float64)
    if not ((shares >= 0.0) & (shares <= 1.0)).all():
        raise ValueError(f"the share of missing entries to flag must be in [0, 1], got {share}")
    n = np.asarray(missing, dtype=bool).sum(axis=0)
    if shares.ndim and shares.shape != n.shape:
        raise ValueError(f"{shares.shape[0]} shares for {n.shape[0]} classes")
    counts: np.ndarray = np.minimum(np.floor(n * shares + 0.5).astype(np.int64), n)
    return counts


def flag_missing_entries(scores: np.ndarray, missing: np.ndarray, *, share: float | np.ndarray) -> np.ndarray:
    """The missing entries a teacher scores highest within their class, ``share`` of each class.

    Parameters
    ----------
    scores : (clips, classes) float
        The teacher's scores (probabilities or logits: only their order within a class counts).
    missing : (clips, classes) bool
        Entries eligible to be flagged.
    share : float in [0, 1], or (classes,) such floats
        Share of each class's missing entries to flag (see :func:`enhancement_counts`).

    Returns
    -------
    (clips, classes) bool
        True for the flagged entries; always a subset of ``missing``.

    Examples
    --------
    >>> scores = np.array([[0.9], [0.2], [0.6], [0.1]])
    >>> missing = np.array([[True], [True], [False], [True]])
    >>> flag_missing_entries(scores, missing, share=0.34)[:, 0].tolist()
    [True, False, False, False]

    """
    scores = np.asarray(scores, dtype=np.float64)
    missing = np.asarray(missing, dtype=bool)
    if scores.shape != missing.shape or scores.ndim != 2:
        raise ValueError(
            f"scores {scores.shape} and missing {missing.shape} must be one (clips, classes) shape"
        )
    if np.isnan(scores[missing]).any():
        raise ValueError("the teacher's scores hold NaN on missing entries")
    counts = enhancement_counts(missing, share)
    flagged = np.zeros_like(missing)
    for c in np.flatnonzero(counts):
        rows = np.flatnonzero(missing[:, c])
        # descending score, ties by clip order (stable sort of the negated scores)
        order = rows[np.argsort(-scores[rows, c], kind="stable")]
        flagged[order[: counts[c]], c] = True
    return flagged
