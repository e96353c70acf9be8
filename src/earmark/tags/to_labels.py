"""From per-clip raw tags to a label table on the target vocabulary.

Each clip's raw tags go through a :class:`~earmark.tags.mapping.TagMapping`; a target is
positive for the clip when the counts of the clip's raw tags that collapse into it add up to at
least ``min_count`` (each tag counts 1 unless the input gives a count, such as last.fm's tag
weight; a tag with several targets, from ``collapse --multi``, counts toward each).
Folksonomy tags are positives only, so nothing else is annotated (``annotated == positive``: a
strategy decides what the missing entries mean), and the clips' source is ``noisy`` by default.

The input (:func:`read_clip_tags`) is a CSV, either *long* (``clip_id,tag[,count][,path]``, one
row per clip and tag; repeated rows add up) or *wide* (``clip_id,tags[,path]``, the tags of a
clip joined by ``separator``). The outputs are a label table
(:func:`~earmark.data.table.write_labels`), the class groups of per-category metrics
(:func:`write_groups`, ``class,group``, read by ``earmark evaluate --groups``) and, when the clips
have paths, a ``path,labels`` table for ``earmark prepare csv`` (:func:`write_prepare_table`).
Both CSVs are written with spreadsheet-safe cells (:func:`~earmark.io.escape_cell`).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from earmark.data.labels import Labels
from earmark.io import CsvWriter, atomic_open, escape_cells, write_text_atomic
from earmark.tags.io import csv_rows
from earmark.tags.mapping import TagMapping

__all__ = [
    "LABELED_SOURCES",
    "ClipTags",
    "LabelResult",
    "read_clip_tags",
    "tags_to_labels",
    "write_groups",
    "write_prepare_table",
]

LABELED_SOURCES: tuple[str, ...] = ("noisy", "curated")


@dataclasses.dataclass(frozen=True)
class ClipTags:
    """Raw tags per clip.

    Attributes
    ----------
    clip_ids
        clip ids, unique, in first-seen order.
    tags
        per clip, raw tag → count.
    paths
        per clip, the audio path ("" when not given).

    """

    clip_ids: tuple[str, ...]
    tags: tuple[dict[str, float], ...]
    paths: tuple[str, ...]


def _count(cell: str, path: Path, line: int) -> float:
    try:
        value = float(cell) if cell.strip() else 1.0
    except ValueError:
        raise ValueError(f"{path}, line {line}: count {cell!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{path}, line {line}: count {cell!r} must be a finite number ≥ 0")
    return value


def read_clip_tags(path: str | Path, *, separator: str = ";") -> ClipTags:
    """Read per-clip raw tags from a long (``tag`` column) or wide (``tags`` column) CSV.

    Parameters
    ----------
    path
        the CSV.
    separator
        what joins the tags of a ``tags`` cell.

    Returns
    -------
    :class:`ClipTags`; a clip given two different paths raises, naming the line.

    """
    path = Path(path)
    if not separator:
        raise ValueError("separator must be a non-empty string such as ';'")
    header, rows = csv_rows(path, "clip tag table", ["clip_id", "tag|tags"])
    long_format = "tag" in header
    tags: dict[str, dict[str, float]] = {}
    paths: dict[str, str] = {}
    for line, cells in rows:
        clip = cells.get("clip_id", "").strip()
        if not clip:
            raise ValueError(f"{path}, line {line}: empty clip_id")
        clip_path = cells.get("path", "").strip()
        if clip in paths and clip_path and paths[clip] and clip_path != paths[clip]:
            raise ValueError(f"{path}, line {line}: clip {clip!r} has path {clip_path!r} and {paths[clip]!r}")
        paths[clip] = paths.get(clip) or clip_path
        counts = tags.setdefault(clip, {})
        if long_format:
            tag = cells.get("tag", "")
            counts[tag] = counts.get(tag, 0.0) + _count(cells.get("count", ""), path, line)
        else:
            for tag in cells.get("tags", "").split(separator):
                if tag.strip():
                    counts[tag.strip()] = counts.get(tag.strip(), 0.0) + 1.0
    if not tags:
        raise ValueError(f"{path}: the clip tag table has no rows")
    return ClipTags(tuple(tags), tuple(tags.values()), tuple(paths[c] for c in tags))


@dataclasses.dataclass(frozen=True)
class LabelResult:
    """A label table made from clip tags, and what was left out.

    Attributes
    ----------
    labels
        positives-only :class:`~earmark.data.labels.Labels` on the mapping's targets.
    paths
        per row of ``labels``, the clip's audio path ("" when not given).
    dropped_clips
        ids of clips left without any positive (dropped unless ``keep_empty``).
    unknown_tags
        raw tag → clips, for tags the mapping does not know.
    unmapped_tags
        raw tag → clips, for tags the mapping sends nowhere.
    below_min_count
        target → clips where its count stayed under ``min_count``.

    """

    labels: Labels
    paths: tuple[str, ...]
    dropped_clips: tuple[str, ...]
    unknown_tags: dict[str, int]
    unmapped_tags: dict[str, int]
    below_min_count: dict[str, int]


def tags_to_labels(
    clip_tags: ClipTags,
    mapping: TagMapping,
    *,
    min_count: float = 1.0,
    source: str = "noisy",
    keep_empty: bool = False,
) -> LabelResult:
    """Per-clip raw tags → a positives-only label table on the mapping's targets.

    Parameters
    ----------
    clip_tags
        the clips' raw tags (:func:`read_clip_tags`).
    mapping
        raw tag → target (:func:`~earmark.tags.mapping.collapse_tags` or its CSV); a tag is found
        as given or by its normalised text.
    min_count
        a target is positive when its summed count in the clip is at least this (> 0).
    source
        the clips' source, ``noisy`` or ``curated``.
    keep_empty
        keep clips without any positive (they then have nothing annotated).

    Returns
    -------
    :class:`LabelResult`.

    """
    if not min_count > 0 or not math.isfinite(min_count):
        raise ValueError(f"min_count must be a finite number > 0, got {min_count}")
    if source not in LABELED_SOURCES:
        raise ValueError(f"unknown source {source!r} for tagged clips; valid: {', '.join(LABELED_SOURCES)}")
    class_names = mapping.target_names
    if not class_names:
        raise ValueError("the mapping sends no tag to any target; there is nothing to label")
    column = {name: j for j, name in enumerate(class_names)}
    positive = np.zeros((len(clip_tags.clip_ids), len(class_names)), dtype=bool)
    unknown: Counter[str] = Counter()
    unmapped: Counter[str] = Counter()
    below: Counter[str] = Counter()
    for i, counts in enumerate(clip_tags.tags):
        totals: dict[str, float] = {}
        for tag, count in counts.items():
            rows = mapping.rows_of(tag)
            if not rows:
                unknown[tag] += 1
            elif not any(row.target for row in rows):
                unmapped[tag] += 1
            for row in rows:
                if row.target:
                    totals[row.target] = totals.get(row.target, 0.0) + count
        for target, total in totals.items():
            if target not in column:
                raise ValueError(f"the mapping sends tags to {target!r}, which is not among its targets")
            if total >= min_count:
                positive[i, column[target]] = True
            else:
                below[target] += 1
    keep = positive.any(axis=1) | keep_empty
    kept = np.flatnonzero(keep)
    labels = Labels(
        clip_ids=np.array([clip_tags.clip_ids[i] for i in kept], dtype=object),
        class_names=class_names,
        positive=positive[kept],
        annotated=positive[kept],
        source=np.full(len(kept), source, dtype=object),
        fold=np.full(len(kept), -1, dtype=np.int64),
        duration_seconds=np.full(len(kept), np.nan),
    )
    return LabelResult(
        labels=labels,
        paths=tuple(clip_tags.paths[i] for i in kept),
        dropped_clips=tuple(clip_tags.clip_ids[i] for i in np.flatnonzero(~keep)),
        unknown_tags=dict(unknown.most_common()),
        unmapped_tags=dict(unmapped.most_common()),
        below_min_count=dict(below.most_common()),
    )


def write_groups(categories: Mapping[str, str], path: str | Path) -> Path:
    """Write target → category as a ``class,group`` CSV (``earmark evaluate --groups``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(["class", "group"])
        writer.writerows(escape_cells([name, group]) for name, group in categories.items())
    return path


def write_prepare_table(result: LabelResult, path: str | Path, *, separator: str = ";") -> tuple[Path, Path]:
    """Write ``path,labels`` rows and a class list for ``earmark prepare csv``.

    The labels of a row are joined by ``separator``; the class list (one target per line) goes
    beside the table as ``<stem>.classes.txt``. Use them with ``earmark prepare csv --set
    table=<path> --set classes=<classes> --set separator=<separator> --set
    annotation=positives_only``. Every clip must have a path.

    Returns
    -------
    the table and the class list.

    """
    labels = result.labels
    missing = [labels.clip_ids[i] for i, p in enumerate(result.paths) if not p]
    if missing:
        raise ValueError(
            f"{len(missing)} clips have no path (first: {missing[0]!r}); add a 'path' column to the clip tags"
        )
    clash = [name for name in labels.class_names if separator in name]
    if clash:
        raise ValueError(
            f"target {clash[0]!r} contains the separator {separator!r}; choose another separator"
        )
    path = Path(path)
    classes = path.with_name(f"{path.stem}.classes.txt")
    write_text_atomic(classes, "".join(f"{name}\n" for name in labels.class_names))
    with atomic_open(path, "w", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(["path", "labels", "source"])
        for i, clip_path in enumerate(result.paths):
            names = [labels.class_names[j] for j in np.flatnonzero(labels.positive[i])]
            writer.writerow(escape_cells([clip_path, separator.join(names), labels.source[i]]))
    return path, classes
