"""Hypothesis strategies and naive references shared by the metric tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


@st.composite
def labels_and_scores(
    draw: st.DrawFn,
    *,
    max_clips: int = 25,
    max_classes: int = 8,
    ties: bool = False,
    with_mask: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(y_true, scores, mask)``: continuous distinct scores, or a coarse grid full of ties."""
    n = draw(st.integers(2, max_clips))
    k = draw(st.integers(2, max_classes))
    y = draw(arrays(np.bool_, (n, k)))
    if ties:
        scores = draw(arrays(np.int8, (n, k), elements=st.integers(0, 3))).astype(np.float64)
    else:
        scores = draw(
            arrays(
                np.float64,
                (n, k),
                elements=st.floats(-100, 100, allow_nan=False, allow_subnormal=False),
                unique=True,
            )
        )
    mask = draw(arrays(np.bool_, (n, k))) if with_mask else None
    return y, scores, mask


def scored_columns(y: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Columns with at least one known positive and one known negative."""
    known = np.ones_like(y, dtype=bool) if mask is None else mask
    return np.flatnonzero(((y & known).sum(0) > 0) & ((~y & known).sum(0) > 0))


def naive_precisions(
    y: np.ndarray, scores: np.ndarray, mask: np.ndarray | None
) -> list[tuple[int, int, float]]:
    """(clip, class, precision at that class) for every known positive, by the definition."""
    known = np.ones_like(y, dtype=bool) if mask is None else mask
    out = []
    for i in range(y.shape[0]):
        for j in np.flatnonzero(y[i] & known[i]):
            above = known[i] & (scores[i] >= scores[i, j])
            out.append((i, int(j), float((above & y[i]).sum() / above.sum())))
    return out


def sk_columns(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``values[:, columns]`` as scikit-learn reads it: 1-D for one column (binary), else 2-D."""
    return values[:, columns[0]] if len(columns) == 1 else values[:, columns]
