"""Metrics aggregated by class group, e.g. tag categories (genre, emotion, instrument, …).

A group map sends each class name to one group name (or to several). Classes the map does not
name fall in the group :data:`UNGROUPED`; a name in the map that is not a class is an error.
:func:`read_group_map` reads such a map from a CSV, JSON or YAML file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from earmark.io import unescape_cell
from earmark.metrics._common import ClassScores, UndefinedMetricError

__all__ = ["UNGROUPED", "GroupValue", "group_columns", "group_means", "metric_by_group", "read_group_map"]

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


def read_group_map(path: str | Path) -> dict[str, str | list[str]]:
    """Read a class → group map: ``.json`` / ``.yaml`` mapping, or ``.csv`` with ``class,group``.

    A class may map to a list of groups (JSON / YAML), or appear on several CSV rows.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"group map not found: {path}")
    if path.suffix == ".csv":
        import csv

        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"class", "group"} <= set(reader.fieldnames):
                raise ValueError(f"{path}: a group CSV needs the columns 'class' and 'group'")
            mapping: dict[str, list[str]] = {}
            for row in reader:
                mapping.setdefault(unescape_cell(row["class"]), []).append(unescape_cell(row["group"]))
        return {name: groups[0] if len(groups) == 1 else groups for name, groups in mapping.items()}
    if path.suffix in (".json", ".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML reads JSON too
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a group map must be a mapping of class name to group name")
        for name, groups in data.items():
            valid = isinstance(groups, str) or (
                isinstance(groups, list) and all(isinstance(g, str) for g in groups)
            )
            if not valid:
                raise ValueError(f"{path}: class {name!r} maps to {groups!r}, not a group name or list")
        return {str(name): groups for name, groups in data.items()}
    raise ValueError(f"{path}: a group map must end in .csv, .json, .yaml or .yml")
