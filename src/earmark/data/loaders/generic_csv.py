"""Any data set as a CSV of ``path,labels`` (plus optional ``source`` and ``fold`` columns).

``labels`` holds the clip's positive classes joined by ``separator``. Without a separator the
default is ``,`` (quote the cell, ``"dog,rain"``), and a label holding ``;`` or ``|`` is refused
naming its row: such a table most likely joins its labels with that character, and reading it
with ``,`` would make one compound class (``cello;bass clarinet``). Set ``separator: ";"`` to
split on it, or ``separator: ","`` to keep such names whole. An empty cell is a clip with no
positive. ``annotation="complete"`` makes every class a row does not list an explicit negative;
``"positives_only"`` leaves it missing. A row whose ``source`` is ``unlabeled`` has nothing
annotated and must list no label; other sources are ``curated`` (the default for an empty cell)
and ``noisy``. ``fold`` is an integer (empty: ``-1``).

Paths are relative to the data root, ``audio_root`` (default: the CSV's folder), or absolute;
they are not checked here (``prepare`` names any missing file).

Clip ids follow one rule: the audio path relative to the data root, without its extension,
with ``/`` separators (``a/one.wav`` and ``<root>/a/one.wav`` both give ``a/one``). A path
outside the data root is refused naming its row (set ``audio_root`` to a folder holding every
file, or take the ids from a column). ``id_from: COLUMN`` takes each id from that column
instead. Either way ids must be unique: a repeated one is refused naming both rows. The
vocabulary is the sorted union of the labels, or the names listed in ``classes`` (one per
line), in which case any other label raises naming the row.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Literal

import numpy as np

from earmark.config import ConfigError
from earmark.data.labels import SOURCES, LabelError, Labels
from earmark.data.loaders._common import parse_int, read_csv_rows, read_name_list
from earmark.data.loaders.base import register_loader
from earmark.data.manifest import Manifest

__all__ = ["LIKELY_SEPARATORS", "CsvOptions", "clip_id_from_path", "load_csv"]


@dataclasses.dataclass(frozen=True)
class CsvOptions:
    """Options of the generic CSV loader.

    Attributes
    ----------
    table : the CSV file, with columns ``path``, ``labels`` and optionally ``source``, ``fold``.
    audio_root : the data root: relative paths and clip ids start here; None means the CSV's folder.
    separator : what joins the labels in a cell; None: ``,``, refusing labels holding ``;`` or ``|``.
    id_from : a column holding each clip's id; None: the path relative to the data root, no extension.
    annotation : ``"complete"`` (unlisted classes are negatives) or ``"positives_only"``.
    classes : a file listing the vocabulary, one class per line; None takes the union.
    split : the feature-store split every clip goes to.

    """

    table: str
    audio_root: str | None = None
    separator: str | None = None
    id_from: str | None = None
    annotation: Literal["complete", "positives_only"] = "complete"
    classes: str | None = None
    split: str = "all"

    def __post_init__(self) -> None:
        if self.separator is not None and not self.separator.strip():
            raise ConfigError("separator must be a non-blank string such as ',' or ';'")


@dataclasses.dataclass(frozen=True)
class _Row:
    line: int
    clip_id: str
    path: Path
    labels: tuple[str, ...]
    source: str
    fold: int


#: Characters that, in a label read with the default separator, most likely join several labels.
LIKELY_SEPARATORS = (";", "|")


def clip_id_from_path(path: Path, root: Path) -> str | None:
    """The clip id of ``path``: relative to ``root``, without extension, ``/``-separated.

    Both paths are normalised lexically (``a/../b``); None when ``path`` is outside ``root``.
    """
    normal = Path(os.path.normpath(path))
    base = Path(os.path.normpath(root.expanduser().absolute()))
    if not normal.is_absolute():
        normal = Path(os.path.normpath(base / normal))
    if not normal.is_relative_to(base):
        return None
    relative = normal.relative_to(base)
    return relative.with_suffix("").as_posix() if relative.name else None


def _row_id(options: CsvOptions, cells: dict[str, str], path: Path, root: Path, where: str) -> str:
    if options.id_from is not None:
        clip_id = cells[options.id_from]
        if not clip_id:
            raise LabelError(f"{where}: empty clip id in column {options.id_from!r}")
        return clip_id
    found = clip_id_from_path(path, root)
    if found is None:
        raise LabelError(
            f"{where}: path {str(path)!r} is outside the data root {root}; clip ids are paths "
            "relative to it: set audio_root to a folder holding every file, or id_from=COLUMN"
        )
    return found


def _split_labels(options: CsvOptions, cell: str, where: str) -> tuple[str, ...]:
    names = dict.fromkeys(n.strip() for n in cell.split(options.separator or ",") if n.strip())
    if options.separator is None:
        for name in names:
            joined = [c for c in LIKELY_SEPARATORS if c in name]
            if joined:
                raise LabelError(
                    f"{where}: label {name!r} holds {joined[0]!r}; if it joins several labels set "
                    f"separator {joined[0]!r} (--set \"separator={joined[0]!r}\"), or ',' "
                    "(--set \"separator=','\") to keep such names whole"
                )
    return tuple(names)


def _parse(options: CsvOptions, table: Path, root: Path) -> list[_Row]:
    required = ("path", "labels") if options.id_from is None else ("path", "labels", options.id_from)
    _, rows = read_csv_rows(table, required, what="label table")
    parsed: list[_Row] = []
    first_line: dict[str, int] = {}
    for line, cells in rows:
        where = f"{table}, line {line}"
        if not cells["path"]:
            raise LabelError(f"{where}: empty path")
        path = Path(cells["path"]).expanduser()
        clip_id = _row_id(options, cells, path, root, where)
        if clip_id in first_line:
            raise LabelError(
                f"{where}: clip {clip_id!r} (path {cells['path']!r}) is also on line {first_line[clip_id]}"
            )
        first_line[clip_id] = line
        source = cells.get("source", "") or "curated"
        if source not in SOURCES:
            raise LabelError(f"{where}: unknown source {source!r}; valid sources: {', '.join(SOURCES)}")
        labels = _split_labels(options, cells["labels"], where)
        if source == "unlabeled" and labels:
            raise LabelError(f"{where}: clip {clip_id!r} is unlabeled but lists labels {', '.join(labels)}")
        fold_cell = cells.get("fold", "")
        fold = parse_int(fold_cell, path=table, line=line, column="fold") if fold_cell else -1
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
