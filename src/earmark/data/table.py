"""Reading and writing label tables: the file form of :class:`~earmark.data.labels.Labels`.

Two formats, chosen by suffix:

- ``.csv`` (or ``.csv.gz``): one row per clip, columns ``clip_id, source, fold,
  duration_seconds`` then one column per class holding ``1`` (positive), ``0`` (explicit
  negative) or nothing (missing). Readable by any spreadsheet or pandas: clip ids, sources and
  class names are written spreadsheet-safe (:func:`~earmark.io.escape_cell`) and read back
  unchanged; a byte-order mark (as spreadsheets save it) is accepted.
- ``.npz``: the same arrays, compact and fast for millions of clips.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from earmark.data.labels import LabelError, Labels
from earmark.io import CsvWriter, atomic_open, escape_cell, escape_cells, unescape_cell

__all__ = ["META_COLUMNS", "read_labels", "write_labels"]

META_COLUMNS = ("clip_id", "source", "fold", "duration_seconds")
_CELL = {"1": (True, True), "0": (False, True), "": (False, False)}


def _open_text(path: Path, *, compressed: bool) -> IO[str]:
    """``path`` opened for reading text, gunzipped when ``compressed``; a byte-order mark is skipped."""
    if compressed:
        binary = gzip.GzipFile(path, "rb")
        return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def write_labels(labels: Labels, path: str | Path) -> Path:
    """Write ``labels`` to ``path`` (``.csv``, ``.csv.gz`` or ``.npz``) atomically."""
    path = Path(path)
    clash = sorted(set(labels.class_names) & set(META_COLUMNS))
    if clash:
        raise LabelError(f"class name {clash[0]!r} collides with a label-table column name")
    if path.suffix == ".npz":
        with atomic_open(path, "wb") as handle:
            np.savez_compressed(
                handle,
                clip_ids=labels.clip_ids.astype(str),
                class_names=np.array(labels.class_names, dtype=str),
                positive=np.packbits(labels.positive, axis=1),
                annotated=np.packbits(labels.annotated, axis=1),
                source=labels.source.astype(str),
                fold=labels.fold,
                duration_seconds=labels.duration_seconds,
            )
    elif path.name.endswith((".csv", ".csv.gz")):
        with atomic_open(path, "wb") as handle:
            _write_csv(labels, handle, compressed_name=path.name if path.name.endswith(".gz") else None)
    else:
        raise LabelError(f"{path}: a label table must end in .csv, .csv.gz or .npz")
    return path


def _write_csv(labels: Labels, handle: BinaryIO, *, compressed_name: str | None) -> None:
    """Write ``labels`` as CSV rows to ``handle``, gzipped when ``compressed_name`` is given.

    ``handle`` stays open (its owner syncs and renames it).
    """
    gzipped = None
    if compressed_name is not None:
        gzipped = gzip.GzipFile(filename=compressed_name.removesuffix(".gz"), mode="wb", fileobj=handle)
    text = io.TextIOWrapper(gzipped or handle, encoding="utf-8", newline="")
    writer = CsvWriter(text)
    writer.writerow([*META_COLUMNS, *escape_cells(labels.class_names)])
    cells = np.where(labels.positive, "1", np.where(labels.annotated, "0", ""))
    for i in range(labels.num_clips):
        duration = labels.duration_seconds[i]
        writer.writerow(
            [
                escape_cell(labels.clip_ids[i]),
                escape_cell(labels.source[i]),
                int(labels.fold[i]),
                "" if np.isnan(duration) else f"{duration:.6g}",
                *cells[i].tolist(),
            ],
            numeric_from=2,
        )
    text.flush()
    text.detach()
    if gzipped is not None:
        gzipped.close()  # writes the gzip trailer; a GzipFile given a fileobj leaves it open


def read_labels(path: str | Path) -> Labels:
    """Read a label table written by :func:`write_labels` (or by hand in the same layout)."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"label table not found: {path}")
    if path.suffix == ".npz":
        return _read_npz(path)
    if not path.name.endswith((".csv", ".csv.gz")):
        raise LabelError(f"{path}: a label table must end in .csv, .csv.gz or .npz")
    with _open_text(path, compressed=path.name.endswith(".gz")) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise LabelError(f"{path} is empty; expected a header {', '.join(META_COLUMNS)}, classes…")
        if tuple(header[: len(META_COLUMNS)]) != META_COLUMNS:
            raise LabelError(
                f"{path}: the header must start with {', '.join(META_COLUMNS)}, got {header[:4]}"
            )
        class_names = [unescape_cell(name) for name in header[len(META_COLUMNS) :]]
        rows = list(reader)
    width = len(header)
    positive = np.zeros((len(rows), len(class_names)), dtype=bool)
    annotated = np.zeros_like(positive)
    clip_ids, sources, folds, durations = [], [], [], []
    for i, row in enumerate(rows):
        if len(row) != width:
            raise LabelError(f"{path}, line {i + 2}: {len(row)} cells, the header has {width}")
        clip_ids.append(unescape_cell(row[0]))
        sources.append(unescape_cell(row[1]))
        folds.append(_parse_int(row[2], path, i, "fold"))
        durations.append(_parse_duration(row[3], path, i))
        for j, cell in enumerate(row[len(META_COLUMNS) :]):
            value = _CELL.get(cell.strip())
            if value is None:
                raise LabelError(
                    f"{path}, line {i + 2}, class {class_names[j]!r}: {cell!r} is not 1, 0 or empty"
                )
            positive[i, j], annotated[i, j] = value
    try:
        return Labels(
            clip_ids=np.array(clip_ids, dtype=object),
            class_names=tuple(class_names),
            positive=positive,
            annotated=annotated,
            source=np.array(sources, dtype=object),
            fold=np.array(folds, dtype=np.int64),
            duration_seconds=np.array(durations, dtype=np.float64),
        )
    except LabelError as error:
        raise LabelError(f"{path}: {error}") from error


def _parse_int(cell: str, path: Path, row: int, column: str) -> int:
    try:
        return int(cell) if cell else -1
    except ValueError:
        raise LabelError(f"{path}, line {row + 2}: {column} {cell!r} is not an integer") from None


def _parse_duration(cell: str, path: Path, row: int) -> float:
    """A clip's duration in seconds: empty for unknown, else a finite number >= 0."""
    if not cell.strip():
        return float("nan")
    try:
        value = float(cell)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value >= 0):
        raise LabelError(
            f"{path}, line {row + 2}: duration_seconds {cell!r} is not a finite number of seconds >= 0 "
            "(leave it empty when unknown)"
        )
    return value


def _read_npz(path: Path) -> Labels:
    try:
        with np.load(path, allow_pickle=False) as data:
            k = len(data["class_names"])
            return Labels(
                clip_ids=data["clip_ids"].astype(object),
                class_names=tuple(data["class_names"].tolist()),
                positive=np.unpackbits(data["positive"], axis=1, count=k).astype(bool),
                annotated=np.unpackbits(data["annotated"], axis=1, count=k).astype(bool),
                source=data["source"].astype(object),
                fold=data["fold"],
                duration_seconds=data["duration_seconds"],
            )
    except KeyError as error:
        raise LabelError(f"{path}: not a label table (missing array {error})") from error
