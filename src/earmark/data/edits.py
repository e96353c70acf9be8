"""Label edits: the one file format in which people (and audits) change labels.

A label-edits file is a CSV with the columns ``clip, class, action, who, why`` and an optional
``time`` (ISO-8601, UTC). ``action`` is one of

- ``add``: the clip is positive for ``class`` (the entry becomes positive and annotated);
- ``remove``: the clip is not positive for ``class`` (negative and annotated);
- ``blacklist``: the whole clip is excluded (``class`` is empty). Blacklisting is an edit, never
  a deleted file: the audio stays where it is, the clip just leaves the labels.

Edits are applied in file order, so a later edit of the same ``(clip, class)`` wins over an
earlier one. ``earmark prepare --edits FILE`` and the pipelines apply them with
:func:`apply_edits`; the review page (``earmark review``) writes them.

For example:

>>> from earmark.data.edits import LabelEdit
>>> LabelEdit("1-100032-A", "Dog bark", "remove", who="ana", why="it is a rooster").action
'remove'

"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from earmark.data.labels import LabelError, Labels
from earmark.io import atomic_open

__all__ = [
    "ACTIONS",
    "EDIT_COLUMNS",
    "EditError",
    "EditReport",
    "LabelEdit",
    "append_edits",
    "apply_edits",
    "count_actions",
    "read_edits",
    "update_edits",
    "utc_now",
    "write_edits",
]

Action = Literal["add", "remove", "blacklist"]
ACTIONS: tuple[str, ...] = ("add", "remove", "blacklist")
EDIT_COLUMNS: tuple[str, ...] = ("clip", "class", "action", "who", "why", "time")
_REQUIRED = ("clip", "class", "action")


class EditError(LabelError):
    """A label-edits file or edit is malformed, or names a clip or class the labels lack."""


def utc_now() -> str:
    """The current time as ISO-8601 UTC with seconds, e.g. ``2024-05-01T12:00:00Z``."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now.isoformat().replace("+00:00", "Z")


@dataclasses.dataclass(frozen=True)
class LabelEdit:
    """One change of the labels.

    Attributes
    ----------
    clip : the clip id, as in the prepared data's ``labels.csv``.
    class_name : the class (the file's ``class`` column); empty for ``blacklist``.
    action : ``"add"``, ``"remove"`` or ``"blacklist"``.
    who : who decided (a name, or the tool that proposed it).
    why : a short reason.
    time : when, ISO-8601 UTC (empty when unknown).
    origin : where the edit was read from (``"edits.csv, line 4"``), for error messages; it is
        not written to files and not compared.

    """

    clip: str
    class_name: str
    action: Action
    who: str = ""
    why: str = ""
    time: str = ""
    origin: str = dataclasses.field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        where = f"{self.origin}: " if self.origin else ""
        if not self.clip.strip():
            raise EditError(f"{where}an edit needs a clip id")
        if self.action not in ACTIONS:
            raise EditError(f"{where}unknown action {self.action!r}; valid actions: {', '.join(ACTIONS)}")
        if self.action == "blacklist" and self.class_name:
            raise EditError(
                f"{where}blacklist excludes the whole clip {self.clip!r}; leave its class empty "
                f"(got {self.class_name!r})"
            )
        if self.action != "blacklist" and not self.class_name:
            raise EditError(f"{where}{self.action} of clip {self.clip!r} needs a class")
        if self.time:
            _check_time(self.time, where)

    @property
    def key(self) -> tuple[str, str]:
        """``(clip, class)``: the entry this edit sets (class empty for the whole clip)."""
        return self.clip, self.class_name

    def row(self) -> list[str]:
        """The CSV cells, in :data:`EDIT_COLUMNS` order."""
        return [self.clip, self.class_name, self.action, self.who, self.why, self.time]


def _check_time(text: str, where: str) -> None:
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise EditError(f"{where}time {text!r} is not ISO-8601 (e.g. 2024-05-01T12:00:00Z)") from None


# ------------------------------------------------------------------------------------ files
def read_edits(path: str | Path) -> list[LabelEdit]:
    """Read a label-edits file, in file order.

    The header must hold ``clip``, ``class`` and ``action``; ``who``, ``why`` and ``time`` are
    optional and other columns are ignored. Blank lines are skipped. A malformed row raises
    :class:`EditError` naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise EditError(f"label-edits file not found: {path}")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise EditError(f"{path} is empty; expected a header {','.join(EDIT_COLUMNS)}")
        header = [name.strip() for name in header]
        absent = [name for name in _REQUIRED if name not in header]
        if absent:
            raise EditError(
                f"{path}: no column {absent[0]!r} (header: {', '.join(header)}); "
                f"a label-edits file has the columns {', '.join(EDIT_COLUMNS)}"
            )
        column = {name: header.index(name) for name in EDIT_COLUMNS if name in header}
        edits = []
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise EditError(f"{path}, line {line}: {len(row)} cells, the header has {len(header)}")
            cell = {name: row[index].strip() for name, index in column.items()}
            edits.append(
                LabelEdit(
                    clip=cell["clip"],
                    class_name=cell["class"],
                    action=cell["action"],  # type: ignore[arg-type]  # checked by LabelEdit
                    who=cell.get("who", ""),
                    why=cell.get("why", ""),
                    time=cell.get("time", ""),
                    origin=f"{path}, line {line}",
                )
            )
    return edits


def write_edits(path: str | Path, edits: Iterable[LabelEdit]) -> Path:
    """Write ``edits`` to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(EDIT_COLUMNS)
        writer.writerows(edit.row() for edit in edits)
    return path


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the lock of ``path``: a thread lock, and an advisory file lock between processes."""
    key = str(path.resolve())
    with _THREAD_LOCKS_GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(key, threading.Lock())
    with thread_lock:
        try:
            import fcntl
        except ImportError:  # no advisory file locks here: the thread lock is all there is
            yield
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(f".{path.name}.lock"), "a", encoding="utf-8") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def update_edits(path: str | Path, change: Callable[[list[LabelEdit]], list[LabelEdit]]) -> list[LabelEdit]:
    """Replace the edits of ``path`` with ``change(current edits)``, under a lock, atomically.

    The file need not exist (it then starts empty). Concurrent updates from threads or
    processes are serialised, so none is lost. Returns the edits written.
    """
    path = Path(path)
    with _locked(path):
        current = read_edits(path) if path.exists() else []
        updated = change(current)
        write_edits(path, updated)
    return updated


def append_edits(path: str | Path, edits: Iterable[LabelEdit]) -> list[LabelEdit]:
    """Append ``edits`` to the label-edits file ``path`` (created when absent); see :func:`update_edits`."""
    new = list(edits)
    return update_edits(path, lambda current: [*current, *new])


# ------------------------------------------------------------------------------------ applying
@dataclasses.dataclass(frozen=True)
class EditReport:
    """What :func:`apply_edits` did.

    ``actions`` counts the edits applied per action; ``changed_entries`` the clip × class entries
    whose positive or annotated value changed; ``blacklisted`` the clips removed; ``unknown`` one
    message per edit that named an unknown clip or class (only with ``strict=False``).
    """

    actions: dict[str, int]
    changed_entries: int
    blacklisted: tuple[str, ...]
    unknown: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-safe data."""
        return {
            "actions": dict(self.actions),
            "changed_entries": self.changed_entries,
            "blacklisted": len(self.blacklisted),
            "unknown": list(self.unknown),
        }


def count_actions(edits: Iterable[LabelEdit]) -> dict[str, int]:
    """Edits per action, every action listed (zero included)."""
    counts = Counter(str(edit.action) for edit in edits)
    return {action: counts[action] for action in ACTIONS}


def apply_edits(
    labels: Labels, edits: Sequence[LabelEdit], *, strict: bool = True
) -> tuple[Labels, EditReport]:
    """Apply label edits in order: later edits of the same ``(clip, class)`` win.

    Parameters
    ----------
    labels
        The labels to edit (not modified).
    edits
        The edits, oldest first.
    strict
        With True (the default) an edit naming a clip or class that ``labels`` lacks raises
        :class:`EditError` naming it and where the edit came from; with False it is skipped
        and reported in :attr:`EditReport.unknown`.

    Returns
    -------
    labels
        ``add`` entries positive and annotated, ``remove`` entries negative and annotated,
        blacklisted clips gone (the others in their original order).
    report
        An :class:`EditReport`.

    """
    row_of = {clip: i for i, clip in enumerate(labels.clip_ids.tolist())}
    column_of = {name: j for j, name in enumerate(labels.class_names)}
    positive = labels.positive.copy()
    annotated = labels.annotated.copy()
    blacklisted: dict[str, None] = {}
    applied: list[LabelEdit] = []
    unknown: list[str] = []
    for edit in edits:
        problem = _unknown_name(edit, row_of, column_of, labels)
        if problem:
            if strict:
                raise EditError(problem)
            unknown.append(problem)
            continue
        applied.append(edit)
        if edit.action == "blacklist":
            blacklisted[edit.clip] = None
            continue
        i, j = row_of[edit.clip], column_of[edit.class_name]
        positive[i, j] = edit.action == "add"
        annotated[i, j] = True
    changed = int(((positive != labels.positive) | (annotated != labels.annotated)).sum())
    edited = labels.with_matrices(positive=positive, annotated=annotated)
    if blacklisted:
        edited = edited.take(~np.isin(edited.clip_ids, np.array(list(blacklisted), dtype=object)))
    report = EditReport(count_actions(applied), changed, tuple(blacklisted), tuple(unknown))
    return edited, report


def _unknown_name(
    edit: LabelEdit, row_of: dict[str, int], column_of: dict[str, int], labels: Labels
) -> str | None:
    where = f"{edit.origin}: " if edit.origin else ""
    if edit.clip not in row_of:
        return f"{where}{edit.action} edit names unknown clip {edit.clip!r} ({len(labels)} clips known)"
    if edit.action != "blacklist" and edit.class_name not in column_of:
        return (
            f"{where}{edit.action} edit of clip {edit.clip!r} names unknown class {edit.class_name!r} "
            f"(vocabulary of {labels.num_classes})"
        )
    return None
