"""Reading tag lists, vocabularies and overrides; writing categories.

Inputs are plain text or CSV, chosen by suffix:

- a **tag list**: ``.csv`` with a ``tag`` column; any other suffix is plain text, one tag per
  line, and only what comes before a tab counts (so a file of ``tag<TAB>target`` lines, like the
  thesis's mapping files, reads as its tags). Blank lines are kept as empty tags (and reported);
  a final newline does not make one.
- a **vocabulary**: ``.csv`` with a ``tag`` (or ``target``) column, an optional ``category``
  column (the thesis's ``targets.csv``) and an optional ``parent`` column (another target);
  plain text: ``target`` or ``target<TAB>category`` lines, blank lines and ``#`` comments
  skipped.
- an **overrides** file: ``.csv`` with columns ``tag`` and ``target`` (empty target: the tag
  collapses nowhere). A tag listed twice with different targets is an error.

Every error names the file and, where there is one, the line. A byte-order mark is accepted, and
CSV cells are unescaped as earmark's own CSV files write them (:func:`~earmark.io.unescape_cell`),
so a ``categories.csv`` or ``mapping.csv`` reads back as a tag list with its tags unchanged.
:func:`write_categories` writes its text cells spreadsheet-safe (:func:`~earmark.io.escape_cell`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from earmark.io import CsvWriter, atomic_open, escape_cells, unescape_cell
from earmark.tags.categorize import TagCategory
from earmark.tags.vocabulary import Entry

__all__ = [
    "CATEGORY_COLUMNS",
    "read_overrides",
    "read_tag_list",
    "read_vocabulary",
    "write_categories",
]

CATEGORY_COLUMNS = ("tag", "normalized", "category", "rule", "matched", "score", "problems")


def _read_text(path: Path, what: str) -> str:
    """The file's text with its line ends as they are (a CSV cell may hold a carriage return)."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: {what} is not UTF-8 text ({error.reason} at byte {error.start})") from None


def csv_rows(
    path: Path, what: str, required: Iterable[str]
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and ``(line, cells)`` rows of a CSV; each ``required`` entry is ``a`` or ``a|b`` (either).

    Cells come unescaped (:func:`~earmark.io.unescape_cell`).
    """
    # a stream, not split lines: a quoted cell may hold a line break (or a carriage return)
    reader = csv.reader(io.StringIO(_read_text(path, what), newline=""))
    header = [unescape_cell(cell.strip()) for cell in next(reader, [])]
    if not header:
        raise ValueError(f"{path}: {what} is empty; expected a header line")
    for options in required:
        if not any(name in header for name in options.split("|")):
            raise ValueError(
                f"{path}: {what} has no column {options.replace('|', ' or ')!r} (header: {', '.join(header)})"
            )
    rows: list[tuple[int, dict[str, str]]] = []
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            raise ValueError(f"{path}, line {line}: {len(cells)} cells, the header has {len(header)}")
        rows.append((line, dict(zip(header, map(unescape_cell, cells), strict=False))))
    return header, rows


def read_tag_list(path: str | Path) -> list[str]:
    """Raw tags from a ``.csv`` (``tag`` column) or plain text file, in file order.

    Returns
    -------
    list of str, possibly with empty and repeated tags (handled downstream).

    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        _, rows = csv_rows(path, "tag list", ["tag"])
        tags = [cells.get("tag", "") for _, cells in rows]
    else:
        tags = [line.split("\t", 1)[0] for line in _read_text(path, "tag list").splitlines()]
    if not tags:
        raise ValueError(f"{path}: the tag list has no tags")
    return tags


def read_vocabulary(path: str | Path) -> list[Entry]:
    """Target names and categories (None where not given) from a ``.csv`` or plain text file.

    A CSV with a ``parent`` column gives ``(name, category, parent)`` triples.
    """
    path = Path(path)
    entries: list[Entry] = []
    if path.suffix.lower() == ".csv":
        header, rows = csv_rows(path, "vocabulary", ["tag|target"])
        column = "tag" if "tag" in header else "target"
        for _, cells in rows:
            name, category = cells.get(column, ""), cells.get("category") or None
            entries.append(
                (name, category, cells.get("parent") or None) if "parent" in header else (name, category)
            )
    else:
        for line in _read_text(path, "vocabulary").splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, _, category = line.partition("\t")
            entries.append((name.strip(), category.strip() or None))
    if not entries:
        raise ValueError(f"{path}: the vocabulary lists no target")
    return entries


def read_overrides(path: str | Path) -> dict[str, str | None]:
    """Raw tag → target name (None: no target) from a ``tag,target`` CSV."""
    path = Path(path)
    _, rows = csv_rows(path, "overrides file", ["tag", "target"])
    overrides: dict[str, str | None] = {}
    first: dict[str, int] = {}
    for line, cells in rows:
        tag, target = cells.get("tag", ""), (cells.get("target") or "").strip() or None
        if not tag.strip():
            raise ValueError(f"{path}, line {line}: empty tag")
        if tag in overrides and overrides[tag] != target:
            raise ValueError(
                f"{path}, line {line}: tag {tag!r} is overridden to {target!r} here and to "
                f"{overrides[tag]!r} on line {first[tag]}"
            )
        overrides[tag] = target
        first.setdefault(tag, line)
    return overrides


def write_categories(categories: Iterable[TagCategory], path: str | Path) -> Path:
    """Write categorised tags as CSV (:data:`CATEGORY_COLUMNS`), atomically.

    Text cells are spreadsheet-safe (:func:`~earmark.io.escape_cell`); ``score`` is a plain number.
    """
    path = Path(path)
    with atomic_open(path, "w", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(CATEGORY_COLUMNS)
        for item in categories:
            tag, normalized, category, rule, matched, problems = escape_cells(
                [
                    item.tag.raw,
                    item.tag.text,
                    item.category,
                    item.rule,
                    item.matched,
                    ";".join(item.tag.problems),
                ]
            )
            writer.writerow([tag, normalized, category, rule, matched, f"{item.score:.4f}", problems])
    return path
