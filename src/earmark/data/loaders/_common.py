"""Small helpers shared by the loaders: strict CSV reading, name lists, audio suffixes.

Every error is a :class:`~earmark.data.labels.LabelError` that names the file and, where there
is one, the line at fault.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

from earmark.data.labels import LabelError
from earmark.features.audio import AUDIO_SUFFIXES
from earmark.io import unescape_cell

__all__ = [
    "CsvRow",
    "audio_suffixes",
    "logger",
    "parse_int",
    "read_csv_rows",
    "read_name_list",
    "require_file",
]

#: Loaders report what they skipped (rows without audio, keys in no split…) here, at INFO level.
logger = logging.getLogger("earmark.data.loaders")

#: One CSV row: its line number in the file (the header is line 1) and its cells by column.
CsvRow = tuple[int, dict[str, str]]


def require_file(path: str | Path, what: str) -> Path:
    """``path`` as a :class:`Path`, or a :class:`LabelError` saying which file is missing."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise LabelError(f"{what} not found: {path} (check the path in the loader options)")
    return path


def read_csv_rows(
    path: str | Path,
    required: Sequence[str],
    *,
    what: str,
    strip: bool = True,
) -> tuple[list[str], list[CsvRow]]:
    """Read a CSV with a header line, checking that the ``required`` columns are there.

    Parameters
    ----------
    path
        The CSV file.
    required
        Column names that must be in the header; other columns are allowed and kept.
    what
        What the file is, for error messages (``"ESC-50 metadata"``).
    strip
        Strip white space around every cell.

    Returns
    -------
    header
        The column names, in file order.
    rows
        ``(line_number, {column: cell})`` per data row; blank lines are skipped.

    """
    path = require_file(path, what)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise LabelError(f"{path}: {what} is empty; expected a header with {', '.join(required)}")
        header = [unescape_cell(name.strip()) for name in header]
        missing = [name for name in required if name not in header]
        if missing:
            raise LabelError(
                f"{path}: {what} has no column {missing[0]!r} (header: {', '.join(header)}); "
                f"expected columns {', '.join(required)}"
            )
        if len(set(header)) != len(header):
            twice = sorted({name for name in header if header.count(name) > 1})
            raise LabelError(f"{path}: column {twice[0]!r} appears twice in the header")
        rows: list[CsvRow] = []
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise LabelError(
                    f"{path}, line {reader.line_num}: {len(cells)} cells for {len(header)} columns "
                    "(is a cell holding the separator left unquoted?)"
                )
            values = [unescape_cell(c.strip() if strip else c) for c in cells]  # see earmark.io
            rows.append((reader.line_num, dict(zip(header, values, strict=True))))
    return header, rows


def read_name_list(path: str | Path, what: str) -> list[str]:
    """Names from a text file, one per line; blank lines and ``#`` comments are skipped.

    A name listed twice raises, naming the file and the name.
    """
    path = require_file(path, what)
    names: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if name in seen:
            raise LabelError(f"{path}, line {number}: {what} lists {name!r} twice")
        seen.add(name)
        names.append(name)
    if not names:
        raise LabelError(f"{path}: {what} lists no names")
    return names


def audio_suffixes(preferred: str | None = None) -> tuple[str, ...]:
    """Every audio suffix, ``preferred`` (for example the one a metadata file names) first."""
    ordered = sorted(AUDIO_SUFFIXES)
    if preferred and preferred.lower() in AUDIO_SUFFIXES:
        ordered.remove(preferred.lower())
        ordered.insert(0, preferred.lower())
    return tuple(ordered)


def parse_int(cell: str, *, path: Path, line: int, column: str) -> int:
    """``int(cell)``, or a :class:`LabelError` naming the file, line and column."""
    try:
        return int(cell)
    except ValueError:
        raise LabelError(f"{path}, line {line}: column {column!r} holds {cell!r}, not an integer") from None
