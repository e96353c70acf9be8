"""Metrics aggregated by class group, e.g. tag categories (genre, emotion, instrument, …).

A group map sends each class name to one group name (or to several). Classes the map does not
name fall in the group :data:`UNGROUPED`; a name in the map that is not a class is an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from earmark.metrics._common import ClassScores, UndefinedMetricError

__all__ = ["UNGROUPED", "GroupValue", "group_columns", "group_means", "metric_by_group"]

UNGROUPED = "(ungrouped)"


@dataclasses.dataclass(frozen=True)
class GroupValue:
    """A metric over one class group.

    Attributes
    ----------
    value
        float or None, None when no class of the group could be scored.
    num_classes
        classes in the group.
    num_scored
        classes that entered the value.
    excluded
        names of the group's classes left out, with the reason.

    """

    value: float | None
    num_classes: int
    num_scored: int
    excluded: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return dataclasses.asdict(self)


def group_columns(
    class_to_group: Mapping[str, str | Sequence[str]], class_names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Column indices of each group, in first-seen group order.

    Parameters
    ----------
    class_to_group
        class name → group name (or a list of group names).
    class_names
        the column order of the score matrix.

    Returns
    -------
    dict of group name → (members,) int64 column indices; unnamed classes go to
    :data:`UNGROUPED`.

    """
    position = {name: j for j, name in enumerate(class_names)}
    unknown = sorted(set(class_to_group) - set(position))
    if unknown:
        raise ValueError(
            f"the group map names class {unknown[0]!r}, which is not among the "
            f"{len(class_names)} classes ({len(unknown)} unknown names in all)"
        )
    members: dict[str, list[int]] = {}
    for name, groups in class_to_group.items():
        for group in [groups] if isinstance(groups, str) else list(groups):
            members.setdefault(str(group), []).append(position[name])
    ungrouped = [j for j, name in enumerate(class_names) if name not in class_to_group]
    if ungrouped:
        members.setdefault(UNGROUPED, []).extend(ungrouped)
    return {group: np.array(sorted(cols), dtype=np.int64) for group, cols in members.items()}


def group_means(
    result: ClassScores, class_to_group: Mapping[str, str | Sequence[str]]
) -> dict[str, GroupValue]:
    """Mean of a per-class metric within each group, over the group's scored classes.

    Parameters
    ----------
    result
        a per-class metric, e.g. from :func:`average_precision_per_class`.
    class_to_group
        class name → group name(s).

    Returns
    -------
    dict of group name → :class:`GroupValue`.

    """
    out: dict[str, GroupValue] = {}
    for group, columns in group_columns(class_to_group, result.class_names).items():
        values = result.values[columns]
        scored = ~np.isnan(values)
        names = [result.class_names[j] for j in columns]
        out[group] = GroupValue(
            value=float(values[scored].mean()) if scored.any() else None,
            num_classes=len(columns),
            num_scored=int(scored.sum()),
            excluded={n: result.excluded[n] for n in names if n in result.excluded},
        )
    return out


def metric_by_group(
    metric: Callable[..., float],
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    class_to_group: Mapping[str, str | Sequence[str]],
    class_names: Sequence[str],
    mask: np.ndarray | None = None,
) -> dict[str, float | None]:
    """Compute a whole-matrix metric (e.g. lwlrap, micro AP) on each group's columns alone.

    Parameters
    ----------
    metric
        ``metric(y_true, scores, mask=mask) -> float``.
    y_true, scores
        (clips, classes).
    class_to_group
        class name → group name(s).
    class_names
        the column order.
    mask
        (clips, classes) bool, optional known entries.

    Returns
    -------
    dict of group name → value, or None when the group's columns cannot be scored (for
    instance no known positive in them).

    """
    y_array, score_array = np.asarray(y_true), np.asarray(scores)
    if len(class_names) != np.shape(score_array)[-1]:
        raise ValueError(f"{len(class_names)} class names for {np.shape(score_array)[-1]} columns")
    out: dict[str, float | None] = {}
    for group, columns in group_columns(class_to_group, class_names).items():
        sub_mask = None if mask is None else np.asarray(mask)[:, columns]
        try:
            out[group] = metric(y_array[:, columns], score_array[:, columns], mask=sub_mask)
        except UndefinedMetricError:
            out[group] = None
    return out
