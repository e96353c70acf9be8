"""Any data set as a CSV of ``path,labels`` (plus optional ``source`` and ``fold`` columns).

``labels`` holds the clip's positive classes joined by ``separator`` (default ``,``: quote the
cell, ``"dog,rain"``; or choose ``;`` and leave it unquoted). An empty cell is a clip with no
positive. ``annotation="complete"`` makes every class a row does not list an explicit negative;
``"positives_only"`` leaves it missing. A row whose ``source`` is ``unlabeled`` has nothing
annotated and must list no label; other sources are ``curated`` (the default for an empty cell)
and ``noisy``. ``fold`` is an integer (empty: ``-1``).

Paths are relative to ``audio_root`` (default: the CSV's folder) or absolute; they are not
checked here (``prepare`` names any missing file). The clip id is the path as written, relative
to ``audio_root`` when it is absolute and inside it, without its suffix, with ``/`` separators;
ids must be unique. The vocabulary is the sorted union of the labels, or the names listed in
``classes`` (one per line), in which case any other label raises naming the row.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePath
from typing import Literal

import numpy as np

from earmark.config import ConfigError
from earmark.data.labels import SOURCES, LabelError, Labels
from earmark.data.loaders._common import parse_int, read_csv_rows, read_name_list
from earmark.data.loaders.base import register_loader
from earmark.data.manifest import Manifest

__all__ = ["CsvOptions", "load_csv"]


@dataclasses.dataclass(frozen=True)
class CsvOptions:
    """Options of the generic CSV loader.

    Attributes
    ----------
    table : the CSV file, with columns ``path``, ``labels`` and optionally ``source``, ``fold``.
    audio_root : the folder relative paths start from; None means the CSV's folder.
    separator : what joins the labels inside the ``labels`` cell.
    annotation : ``"complete"`` (unlisted classes are negatives) or ``"positives_only"``.
    classes : a file listing the vocabulary, one class per line; None takes the union.
    split : the feature-store split every clip goes to.

    """

    table: str
    audio_root: str | None = None
    separator: str = ","
    annotation: Literal["complete", "positives_only"] = "complete"
    classes: str | None = None
    split: str = "all"

    def __post_init__(self) -> None:
        if not self.separator.strip():
            raise ConfigError("separator must be a non-blank string such as ',' or ';'")


@dataclasses.dataclass(frozen=True)
class _Row:
    line: int
    clip_id: str
    path: Path
    labels: tuple[str, ...]
    source: str
    fold: int


def _clip_id(cell: str, root: Path) -> str:
    path = PurePath(cell)
    if path.is_absolute() and path.is_relative_to(root):
        path = path.relative_to(root)
    return path.with_suffix("").as_posix()


def _parse(options: CsvOptions, table: Path, root: Path) -> list[_Row]:
    _, rows = read_csv_rows(table, ("path", "labels"), what="label table")
    parsed: list[_Row] = []
    first_line: dict[str, int] = {}
    for line, cells in rows:
        where = f"{table}, line {line}"
        if not cells["path"]:
            raise LabelError(f"{where}: empty path")
        clip_id = _clip_id(cells["path"], root)
        if clip_id in first_line:
            raise LabelError(
                f"{where}: clip {clip_id!r} (path {cells['path']!r}) is also on line {first_line[clip_id]}"
            )
        first_line[clip_id] = line
        source = cells.get("source", "") or "curated"
        if source not in SOURCES:
            raise LabelError(f"{where}: unknown source {source!r}; valid sources: {', '.join(SOURCES)}")
        labels = tuple(
            dict.fromkeys(n.strip() for n in cells["labels"].split(options.separator) if n.strip())
        )
        if source == "unlabeled" and labels:
            raise LabelError(f"{where}: clip {clip_id!r} is unlabeled but lists labels {', '.join(labels)}")
        fold_cell = cells.get("fold", "")
        fold = parse_int(fold_cell, path=table, line=line, column="fold") if fold_cell else -1
        path = Path(cells["path"]).expanduser()
        parsed.append(_Row(line, clip_id, path if path.is_absolute() else root / path, labels, source, fold))
    if not parsed:
        raise LabelError(f"{table}: the label table has no rows")
    return parsed


@register_loader("csv", CsvOptions)
def load_csv(options: CsvOptions) -> Manifest:
    """Load a CSV of ``path,labels[,source,fold]``: complete or positives-only annotation."""
    table = Path(options.table).expanduser()
    root = Path(options.audio_root).expanduser() if options.audio_root else table.parent
    rows = _parse(options, table, root)
    if options.classes is not None:
        class_names = read_name_list(options.classes, "class list")
    else:
        class_names = sorted({name for row in rows for name in row.labels})
        if not class_names:
            raise LabelError(f"{table}: no row lists a label; give the vocabulary in `classes`")
    index = {name: j for j, name in enumerate(class_names)}
    n = len(rows)
    positive = np.zeros((n, len(class_names)), dtype=bool)
    annotated = np.zeros_like(positive)
    for i, row in enumerate(rows):
        for name in row.labels:
            if name not in index:
                raise LabelError(
                    f"{table}, line {row.line}: clip {row.clip_id!r} has label {name!r}, which is "
                    f"not in the vocabulary {options.classes} ({len(class_names)} classes)"
                )
            positive[i, index[name]] = True
        if row.source != "unlabeled":
            annotated[i] = True if options.annotation == "complete" else positive[i]
    labels = Labels(
        clip_ids=np.array([r.clip_id for r in rows], dtype=object),
        class_names=tuple(class_names),
        positive=positive,
        annotated=annotated,
        source=np.array([r.source for r in rows], dtype=object),
        fold=np.array([r.fold for r in rows], dtype=np.int64),
        duration_seconds=np.full(n, np.nan),
    )
    return Manifest.single_split(labels, [r.path for r in rows], split=options.split, name=table.stem)
