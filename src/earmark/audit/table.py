"""The audit table: flagged (clip, class) items, most suspicious first, as CSV.

Both audits (suspected missing labels, suspected wrong labels) write this one layout, which the
review page reads and which becomes label edits once a person decides:

``rank``
    1-based position in the file, most suspicious first.
``clip``, ``class``
    the clip id and class name (``class`` empty for a whole-clip suggestion).
``suggestion``
    ``add`` (a missing positive), ``remove`` (a wrong positive) or ``blacklist`` (the clip).
``score``
    how suspicious the item is; higher is more suspicious.
``class_rank``
    the item's rank among the flagged items of its class (empty for whole-clip items).
``model_score``
    the model's probability for that class (empty for whole-clip items).
``top``
    the model's highest-scored classes for the clip, ``name=0.91;other=0.05``.

The text cells (``clip``, ``class``, ``suggestion``, ``top``) are written spreadsheet-safe
(:func:`~earmark.io.escape_cell`) and read back unchanged; the numbers are plain numbers; a
byte-order mark is accepted.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from earmark.data.edits import ACTIONS, Action
from earmark.errors import EarmarkError
from earmark.io import atomic_open, escape_cell, unescape_cell, write_text_atomic

__all__ = [
    "AUDIT_COLUMNS",
    "REQUIRED_COLUMNS",
    "AuditError",
    "AuditItem",
    "format_top",
    "parse_top",
    "read_audit",
    "write_audit",
]

AUDIT_COLUMNS = ("rank", "clip", "class", "suggestion", "score", "class_rank", "model_score", "top")
REQUIRED_COLUMNS = ("clip", "class", "suggestion", "score")
_NUMERIC_COLUMNS = frozenset({"rank", "score", "class_rank", "model_score"})
# a suggestion is the label edit it becomes once a person accepts it
SUGGESTIONS = ACTIONS
Suggestion = Action


class AuditError(EarmarkError):
    """An audit table is not usable; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class AuditItem:
    """One flagged item of an audit (see the module docstring for the fields).

    ``rank`` and ``line`` say where a read item came from (0 for items not read from a file); they
    take no part in equality, so a written and re-read table equals the items written.
    """

    clip: str
    class_name: str
    suggestion: Suggestion
    score: float
    class_rank: int | None = None
    model_score: float | None = None
    top: str = ""
    rank: int = dataclasses.field(default=0, compare=False)
    line: int = dataclasses.field(default=0, compare=False)

    @property
    def top_scores(self) -> tuple[tuple[str, float], ...]:
        """``top`` parsed: ``(class, score)`` pairs, best first."""
        return parse_top(self.top)


def format_top(class_names: Sequence[str], scores: np.ndarray, k: int = 3) -> str:
    """The ``k`` highest of one clip's ``scores`` ``(classes,)`` as ``name=0.910;other=0.050``."""
    order = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return ";".join(f"{class_names[j]}={float(scores[j]):.3f}" for j in order)


def parse_top(text: str) -> tuple[tuple[str, float], ...]:
    """``"dog=0.91;rain=0.05"`` → ``(("dog", 0.91), ("rain", 0.05))``.

    A name may hold ``=`` (the score is after the last one). A piece that does not end in a number
    is joined to the next piece's name, so a name holding ``;`` survives when it can.
    """
    pairs: list[tuple[str, float]] = []
    pending = ""
    for piece in text.split(";") if text else []:
        name, sep, value = (pending + piece).rpartition("=")
        score = _finite(value) if sep else None
        if score is None:
            pending = pending + piece + ";"
            continue
        pairs.append((name.strip(), score))
        pending = ""
    return tuple(pairs)


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _number(value: float | int | None, digits: int = 6) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value) if isinstance(value, int) else f"{value:.{digits}g}"


def write_audit(items: Iterable[AuditItem], path: str | Path) -> Path:
    """Write ``items`` (already in order, most suspicious first) to ``path`` atomically.

    The ranks written are the positions in ``items``.
    """
    path = Path(path)
    with atomic_open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(AUDIT_COLUMNS)
        for rank, item in enumerate(items, start=1):
            writer.writerow(
                [
                    rank,
                    escape_cell(item.clip),
                    escape_cell(item.class_name),
                    escape_cell(item.suggestion),
                    _number(item.score),
                    _number(item.class_rank),
                    _number(item.model_score),
                    escape_cell(item.top),
                ]
            )
    return path


def summary_path(audit_path: str | Path) -> Path:
    """The JSON summary beside an audit table: ``audit_missing.csv`` → ``audit_missing.json``."""
    return Path(audit_path).with_suffix(".json")


def write_audit_summary(audit_path: str | Path, summary: Mapping[str, object]) -> Path:
    """Write ``summary`` (the rate estimate and what the audit scored) beside the audit table.

    Returns the JSON's path (:func:`summary_path`); the file is written atomically.
    """
    return write_text_atomic(summary_path(audit_path), json.dumps(summary, indent=2) + "\n")


def read_audit(path: str | Path) -> list[AuditItem]:
    """Read an audit table, sorted by ``rank``.

    File order decides among equal ranks, and is the rank when the table has no ``rank`` column.
    Blank rows and extra columns are ignored.

    Raises
    ------
    FileNotFoundError
        no file at ``path``.
    AuditError
        naming the file and line: a required column missing, an unknown suggestion, a class given
        with ``blacklist`` or missing with ``add`` / ``remove``, no clip id, or a rank, score,
        class rank or model score that is not a finite number.

    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audit file not found: {path}")
    items: list[AuditItem] = []
    with open(path, encoding="utf-8-sig", newline="") as stream:
        reader = csv.DictReader(stream)
        header = [unescape_cell(name.strip()) for name in reader.fieldnames or []]
        absent = [name for name in REQUIRED_COLUMNS if name not in header]
        if absent:
            raise AuditError(
                f"{path} is not an audit table: no column {absent[0]!r} (header: "
                f"{', '.join(header) or 'none'}); an audit table has the columns {', '.join(AUDIT_COLUMNS)}"
            )
        reader.fieldnames = header
        for row in reader:
            cells = {
                key: _text(value, numeric=key in _NUMERIC_COLUMNS)
                for key, value in row.items()
                if isinstance(key, str)
            }
            if not any(cells.values()):
                continue
            items.append(_item(cells, f"{path}, line {reader.line_num}", reader.line_num, len(items) + 1))
    items.sort(key=lambda item: item.rank)
    return items


def _text(cell: str | None, *, numeric: bool) -> str:
    """A read cell stripped of white space and, unless numeric, unescaped (:func:`unescape_cell`)."""
    text = (cell or "").strip()
    return text if numeric else unescape_cell(text)


def _item(cells: dict[str, str], where: str, line: int, position: int) -> AuditItem:
    suggestion = cells["suggestion"]
    if suggestion not in SUGGESTIONS:
        raise AuditError(f"{where}: unknown suggestion {suggestion!r}; valid: {', '.join(SUGGESTIONS)}")
    if not cells["clip"]:
        raise AuditError(f"{where}: no clip id")
    if suggestion == "blacklist" and cells["class"]:
        raise AuditError(f"{where}: a blacklist suggestion is about the whole clip; its class must be empty")
    if suggestion != "blacklist" and not cells["class"]:
        raise AuditError(f"{where}: an {suggestion} suggestion needs a class")
    return AuditItem(
        clip=cells["clip"],
        class_name=cells["class"],
        suggestion=suggestion,  # type: ignore[arg-type]
        score=_cell(cells, "score", where),
        class_rank=int(_cell(cells, "class_rank", where)) if cells.get("class_rank") else None,
        model_score=_cell(cells, "model_score", where) if cells.get("model_score") else None,
        top=cells.get("top", ""),
        rank=int(_cell(cells, "rank", where)) if cells.get("rank") else position,
        line=line,
    )


def _cell(cells: dict[str, str], column: str, where: str) -> float:
    text = cells.get(column, "")
    value = _finite(text)
    if value is None:
        raise AuditError(f"{where}: {column} {text!r} is not a finite number")
    return value
