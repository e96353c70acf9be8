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
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = ["AUDIT_COLUMNS", "AuditItem", "format_top", "read_audit", "write_audit"]

AUDIT_COLUMNS = ("rank", "clip", "class", "suggestion", "score", "class_rank", "model_score", "top")
Suggestion = Literal["add", "remove", "blacklist"]


@dataclasses.dataclass(frozen=True)
class AuditItem:
    """One flagged item of an audit (see the module docstring for the fields)."""

    clip: str
    class_name: str
    suggestion: Suggestion
    score: float
    class_rank: int | None = None
    model_score: float | None = None
    top: str = ""


def format_top(class_names: Sequence[str], scores: np.ndarray, k: int = 3) -> str:
    """The ``k`` highest of one clip's ``scores`` ``(classes,)`` as ``name=0.910;other=0.050``."""
    order = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return ";".join(f"{class_names[j]}={float(scores[j]):.3f}" for j in order)


def _number(value: float | int | None, digits: int = 6) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value) if isinstance(value, int) else f"{value:.{digits}g}"


def write_audit(items: Iterable[AuditItem], path: str | Path) -> Path:
    """Write ``items`` (already in order, most suspicious first) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(AUDIT_COLUMNS)
            for rank, item in enumerate(items, start=1):
                writer.writerow(
                    [
                        rank,
                        item.clip,
                        item.class_name,
                        item.suggestion,
                        _number(item.score),
                        _number(item.class_rank),
                        _number(item.model_score),
                        item.top,
                    ]
                )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_audit(path: str | Path) -> list[AuditItem]:
    """Read an audit table (extra columns are ignored; missing required ones raise)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audit table not found: {path}")
    with open(path, encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        missing = {"clip", "class", "suggestion", "score"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} is not an audit table: no column {sorted(missing)[0]!r}")
        items = []
        for line, row in enumerate(reader, start=2):
            suggestion = row["suggestion"]
            if suggestion not in ("add", "remove", "blacklist"):
                raise ValueError(f"{path}:{line}: unknown suggestion {suggestion!r} (add, remove, blacklist)")
            items.append(
                AuditItem(
                    clip=row["clip"],
                    class_name=row["class"],
                    suggestion=suggestion,  # type: ignore[arg-type]
                    score=float(row["score"]),
                    class_rank=int(row["class_rank"]) if row.get("class_rank") else None,
                    model_score=float(row["model_score"]) if row.get("model_score") else None,
                    top=row.get("top") or "",
                )
            )
    return items
