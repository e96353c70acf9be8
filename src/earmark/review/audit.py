"""Reading an audit CSV (``earmark audit missing`` / ``earmark audit noisy``) into review items.

An audit CSV has one row per flagged item, most suspicious first, with the columns

``rank``
    1-based rank over the whole audit.
``clip``
    the clip id, as in the prepared data's ``labels.csv``.
``class``
    the class name; empty for a whole-clip suggestion (``blacklist``).
``suggestion``
    ``add``, ``remove`` or ``blacklist``.
``score``
    how suspicious the item is (higher = more suspicious).
``class_rank``, ``model_score``, ``top`` (optional, may be empty)
    the rank within its class, the model's score for the class, and the model's top scores as
    ``name=0.91;other=0.05``.

Other columns are ignored.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

from earmark.data.edits import ACTIONS

__all__ = ["AUDIT_COLUMNS", "AuditItem", "ReviewError", "parse_top", "read_audit"]

AUDIT_COLUMNS: tuple[str, ...] = ("rank", "clip", "class", "suggestion", "score")


class ReviewError(ValueError):
    """An audit file, a prepared directory or a review request is not usable."""


@dataclasses.dataclass(frozen=True)
class AuditItem:
    """One flagged item of an audit: a suggested change of one clip's labels.

    Attributes
    ----------
    rank : 1-based rank over the whole audit (1 = most suspicious).
    clip : the clip id.
    class_name : the class the suggestion is about; empty for ``blacklist``.
    suggestion : ``"add"``, ``"remove"`` or ``"blacklist"``.
    score : suspicion, higher = more suspicious.
    class_rank : rank within its class, or None.
    model_score : the model's score for the class, or None.
    top : the model's top scores, ``(class, score)`` best first (may be empty).
    line : the line of the audit file the item comes from.

    """

    rank: int
    clip: str
    class_name: str
    suggestion: str
    score: float
    class_rank: int | None = None
    model_score: float | None = None
    top: tuple[tuple[str, float], ...] = ()
    line: int = 0


def parse_top(text: str) -> tuple[tuple[str, float], ...]:
    """``"dog=0.91;rain=0.05"`` → ``(("dog", 0.91), ("rain", 0.05))``.

    A name may hold ``=`` (the score is after the last one). Pieces that do not end in a number
    are joined to the next piece's name, so a name holding ``;`` survives when it can.
    """
    pairs: list[tuple[str, float]] = []
    pending = ""
    for piece in text.split(";"):
        name, sep, value = (pending + piece).rpartition("=")
        score = _float_or_none(value) if sep else None
        if score is None:
            pending = pending + piece + ";"
            continue
        pairs.append((name.strip(), score))
        pending = ""
    return tuple(pairs)


def _float_or_none(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_audit(path: str | Path) -> list[AuditItem]:
    """Read an audit CSV, sorted by rank (file order among equal ranks).

    Raises :class:`ReviewError` naming the file and line for a missing column, an unknown
    suggestion, a class given with ``blacklist`` or missing with ``add`` / ``remove``, or a rank or
    score that is not a number.
    """
    path = Path(path)
    if not path.is_file():
        raise ReviewError(f"audit file not found: {path}")
    items: list[AuditItem] = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        absent = [name for name in AUDIT_COLUMNS if name not in header]
        if absent:
            raise ReviewError(
                f"{path}: no column {absent[0]!r} (header: {', '.join(header) or 'none'}); an audit CSV "
                f"has the columns {', '.join(AUDIT_COLUMNS)}, class_rank, model_score, top"
            )
        reader.fieldnames = header
        for row in reader:
            cells = {key: (value or "").strip() for key, value in row.items() if isinstance(key, str)}
            if not any(cells.values()):
                continue
            items.append(_item(cells, f"{path}, line {reader.line_num}", reader.line_num))
    items.sort(key=lambda item: item.rank)
    return items


def _item(cells: dict[str, str], where: str, line: int) -> AuditItem:
    suggestion = cells["suggestion"]
    if suggestion not in ACTIONS:
        raise ReviewError(f"{where}: unknown suggestion {suggestion!r}; valid: {', '.join(ACTIONS)}")
    if not cells["clip"]:
        raise ReviewError(f"{where}: no clip id")
    if suggestion == "blacklist" and cells["class"]:
        raise ReviewError(f"{where}: a blacklist suggestion is about the whole clip; its class must be empty")
    if suggestion != "blacklist" and not cells["class"]:
        raise ReviewError(f"{where}: an {suggestion} suggestion needs a class")
    return AuditItem(
        rank=int(_number(cells, "rank", where)),
        clip=cells["clip"],
        class_name=cells["class"],
        suggestion=suggestion,
        score=_number(cells, "score", where),
        class_rank=int(_number(cells, "class_rank", where)) if cells.get("class_rank") else None,
        model_score=_number(cells, "model_score", where) if cells.get("model_score") else None,
        top=parse_top(cells.get("top", "")),
        line=line,
    )


def _number(cells: dict[str, str], column: str, where: str) -> float:
    text = cells.get(column, "")
    value = _float_or_none(text)
    if value is None:
        raise ReviewError(f"{where}: {column} {text!r} is not a finite number")
    return value
