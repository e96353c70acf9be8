"""Shared steps of every metric: validate the inputs, hold per-class results, count ranks.

The counting core, :func:`precision_at_positives`, is what makes the ranking metrics fast and
exact with ties: it sorts each line (a clip's row or a class's column) once, then finds, for
every positive entry, how many known entries and how many known positives of its line score at
least as high, by a binary search vectorised over all positive entries at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from earmark.errors import EarmarkError

__all__ = [
    "ClassScores",
    "EvalArrays",
    "UndefinedMetricError",
    "check_inputs",
    "count_at_least",
    "precision_at_positives",
]


class UndefinedMetricError(EarmarkError):
    """Nothing can be scored: no evaluated entries, or no class with the entries a metric needs."""


@dataclasses.dataclass(frozen=True)
class EvalArrays:
    """Validated metric inputs.

    Attributes
    ----------
    positive
        (clips, classes) bool, true labels.
    scores
        (clips, classes) float32 or float64, finite on every known entry.
    known
        (clips, classes) bool, the entries that count (all True without a mask).
    class_names
        tuple of str, one per class (``"0"``, ``"1"``, … when none were given).
    masked
        bool, whether a mask was given.

    """

    positive: np.ndarray
    scores: np.ndarray
    known: np.ndarray
    class_names: tuple[str, ...]
    masked: bool

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return int(self.positive.shape[1])

    @property
    def evaluated_positive(self) -> np.ndarray:
        """``(clips, classes)`` bool: known positive entries."""
        return self.positive & self.known if self.masked else self.positive


def check_inputs(
    y_true: np.ndarray,
    scores: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    class_names: Sequence[str] | None = None,
) -> EvalArrays:
    """Validate and normalise ``(clips, classes)`` labels, scores and an optional mask.

    Raises
    ------
    ValueError
        When a shape differs, labels are not 0 / 1, a known score is NaN or infinite, the
        class names do not match the columns, or nothing is left to evaluate.

    """
    positive = np.asarray(y_true)
    score_array = np.asarray(scores)
    if positive.ndim != 2:
        raise ValueError(f"y_true must be 2-D (clips, classes), got shape {positive.shape}")
    if score_array.shape != positive.shape:
        raise ValueError(
            f"scores have shape {score_array.shape} but y_true has shape {positive.shape}; "
            "both must be (clips, classes)"
        )
    if positive.dtype != bool:
        if not np.isin(positive, (0, 1)).all():
            bad = np.argwhere(~np.isin(positive, (0, 1)))[0]
            raise ValueError(f"y_true must hold only 0 and 1, got {positive[tuple(bad)]!r} at {tuple(bad)}")
        positive = positive.astype(bool)
    names = _class_names(class_names, positive.shape[1])
    known = _check_mask(mask, positive.shape)
    if not np.issubdtype(score_array.dtype, np.floating) or score_array.dtype == np.float16:
        if not (np.issubdtype(score_array.dtype, np.number) or score_array.dtype == bool):
            raise ValueError(f"scores must be numbers, got dtype {score_array.dtype}")
        score_array = score_array.astype(np.float32 if score_array.dtype == np.float16 else np.float64)
    if positive.size == 0 or (known is not None and not known.any()):
        raise UndefinedMetricError(
            f"empty evaluation set: {positive.shape[0]} clips × {positive.shape[1]} classes"
            + (", no entry is known under the mask" if known is not None else "")
        )
    _check_finite(score_array, known, names)
    return EvalArrays(
        positive=positive,
        scores=score_array,
        known=np.ones(positive.shape, dtype=bool) if known is None else known,
        class_names=names,
        masked=known is not None,
    )


def _class_names(class_names: Sequence[str] | None, num_classes: int) -> tuple[str, ...]:
    if class_names is None:
        return tuple(str(j) for j in range(num_classes))
    names = tuple(str(name) for name in class_names)
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for {num_classes} score columns")
    return names


def _check_mask(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    known = np.asarray(mask)
    if known.shape != shape:
        raise ValueError(f"mask has shape {known.shape} but y_true has shape {shape}")
    if known.dtype != bool:
        raise ValueError(f"mask must be boolean (True = known entry), got dtype {known.dtype}")
    return known


def _check_finite(scores: np.ndarray, known: np.ndarray | None, names: tuple[str, ...]) -> None:
    bad = ~np.isfinite(scores)
    if known is not None:
        bad &= known
    if bad.any():
        clip, column = np.argwhere(bad)[0]
        raise ValueError(
            f"scores must be finite: clip {clip}, class {names[column]!r} holds "
            f"{scores[clip, column]} ({int(bad.sum())} non-finite known entries in all)"
        )


@dataclasses.dataclass(frozen=True)
class ClassScores:
    """A metric per class and its macro average over the classes it could be computed for.

    Attributes
    ----------
    metric
        str, the metric's name.
    class_names
        tuple of str, one per class.
    values
        (classes,) float64, NaN for excluded classes.
    excluded
        dict, class name → why it was left out (``"no positives"``, ``"no negatives"``).
    macro
        float, mean over the included classes (never NaN).

    """

    metric: str
    class_names: tuple[str, ...]
    values: np.ndarray
    excluded: dict[str, str]
    macro: float

    @classmethod
    def build(
        cls, metric: str, class_names: tuple[str, ...], values: np.ndarray, reasons: np.ndarray
    ) -> ClassScores:
        """Per-class ``values`` with ``reasons`` (object array, ``""`` = included) → result.

        Raises :class:`UndefinedMetricError` naming the metric when no class can be scored.
        """
        included = reasons == ""
        if not included.any():
            counts = {r: int((reasons == r).sum()) for r in sorted(set(reasons.tolist()))}
            raise UndefinedMetricError(
                f"{metric}: no class can be scored among the evaluated entries "
                f"({', '.join(f'{n} with {r}' for r, n in counts.items())})"
            )
        values = np.where(included, values, np.nan).astype(np.float64)
        values.flags.writeable = False
        excluded = {class_names[j]: str(reasons[j]) for j in np.flatnonzero(~included)}
        return cls(metric, class_names, values, excluded, float(values[included].mean()))

    @property
    def included(self) -> np.ndarray:
        """``(classes,)`` bool: classes that entered the macro average."""
        included: np.ndarray = ~np.isnan(self.values)
        return included

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form: macro, per-class values (``None`` where excluded) and exclusions."""
        return {
            "macro": self.macro,
            "num_classes_scored": int(self.included.sum()),
            "num_classes_excluded": len(self.excluded),
            "excluded": dict(self.excluded),
            "per_class": {
                name: None if np.isnan(v) else float(v)
                for name, v in zip(self.class_names, self.values.tolist(), strict=True)
            },
        }


def exclusion_reasons(
    num_positive: np.ndarray, num_negative: np.ndarray, *, need_negatives: bool
) -> np.ndarray:
    """``(classes,)`` object array: ``""`` for classes that can be scored, else the reason."""
    reasons = np.full(num_positive.shape, "", dtype=object)
    if need_negatives:
        reasons[num_negative == 0] = "no negatives"
    reasons[num_positive == 0] = "no positives"
    reasons[(num_positive == 0) & (num_negative == 0)] = "no evaluated entries"
    return reasons


# --------------------------------------------------------------------------- counting core
def count_at_least(
    sorted_values: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    queries: np.ndarray,
    *,
    strict: bool = False,
) -> np.ndarray:
    """For each query, how many values of its segment are ``>=`` (or ``>``) the query.

    Parameters
    ----------
    sorted_values
        (n,) array, ascending within each segment.
    starts, ends
        (queries,) int64, the segment ``sorted_values[start:end]`` of each query.
    queries
        (queries,) array of values.
    strict
        count values ``> query`` instead of ``>= query``.

    Returns
    -------
    (queries,) int64 counts; a binary search vectorised over all queries.

    """
    low = starts.astype(np.int64, copy=True)
    high = ends.astype(np.int64, copy=True)
    longest = int((high - low).max(initial=0))
    last = max(len(sorted_values) - 1, 0)
    for _ in range(longest.bit_length()):
        active = low < high
        middle = (low + high) // 2
        value = sorted_values[np.minimum(middle, last)]
        go_right = (value <= queries) if strict else (value < queries)
        low = np.where(active & go_right, middle + 1, low)
        high = np.where(active & ~go_right, middle, high)
    return ends - low


def precision_at_positives(
    lines: np.ndarray, positive: np.ndarray, known: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision at each known positive entry along its line, ties counted at the worst rank.

    Parameters
    ----------
    lines
        (num_lines, length) float scores; a line is a clip's row (label ranking) or a
        class's column passed transposed (average precision).
    positive
        (num_lines, length) bool.
    known
        (num_lines, length) bool or None; unknown entries take no part.

    Returns
    -------
    line_of : (P,) int64, the line of each known positive entry (in no set order).
    column_of : (P,) int64, its position within the line.
    precision : (P,) float64, ``#known positives scoring >= it / #known entries scoring >= it``.

    """
    evaluated = positive if known is None else positive & known
    line_of, column_of = nonzero_entries(evaluated)
    values = lines[line_of, column_of]
    length = lines.shape[1]
    ordered = np.array(lines, copy=True, order="C")
    if known is not None:
        ordered[~known] = -np.inf
    ordered.sort(axis=1)
    ranked = count_at_least(ordered.ravel(), line_of * length, (line_of + 1) * length, values)
    del ordered
    hits = count_within_lines(line_of, values, lines.shape[0], values)
    return line_of, column_of, hits / ranked


def nonzero_entries(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D bool matrix, fast also for a transposed (column-major) view."""
    if not matrix.flags.c_contiguous and matrix.T.flags.c_contiguous:
        columns, rows = np.nonzero(matrix.T)
    else:
        rows, columns = np.nonzero(matrix)
    return rows, columns


def count_within_lines(
    line_of: np.ndarray,
    values: np.ndarray,
    num_lines: int,
    queries: np.ndarray,
    *,
    strict: bool = False,
) -> np.ndarray:
    """For each entry ``q``: how many entries of line ``line_of[q]`` have value ``>= queries[q]``."""
    order = np.lexsort((values, line_of))
    per_line = np.bincount(line_of, minlength=num_lines)
    line_end = np.cumsum(per_line)
    line_start = line_end - per_line
    return count_at_least(values[order], line_start[line_of], line_end[line_of], queries, strict=strict)
