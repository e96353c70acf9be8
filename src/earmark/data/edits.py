"""Label edits: the one file format in which people (and audits) change labels.

A label-edits file is a CSV with the columns ``clip, class, action, who, why`` and an optional
``time`` (ISO-8601, UTC). ``action`` is one of

- ``add``: the clip is positive for ``class`` (the entry becomes positive and annotated);
- ``remove``: the clip is not positive for ``class`` (negative and annotated);
- ``blacklist``: the whole clip is excluded (``class`` is empty). Blacklisting is an edit, never
  a deleted file: the audio stays where it is, the clip just leaves the labels;
- ``unlabel``: the whole clip loses its labels and becomes ``unlabeled`` (``class`` is empty):
  every entry missing, its source ``unlabeled``, the clip kept (a semi-supervised strategy still
  uses its audio). The pipeline's filter stage writes it for the clips it rejects; a later
  ``add`` or ``remove`` of the clip labels it again, with its former source.

Edits are applied in file order, so a later edit of the same ``(clip, class)`` wins over an
earlier one. Every field holds at most :data:`MAX_FIELD_CHARS` characters (a reason is a
sentence, not a document): :class:`LabelEdit` refuses a longer one with
:class:`FieldTooLongError`, so :func:`write_edits` never writes a file :func:`read_edits` cannot
read, and :func:`read_edits` names the file and line of a longer field written by hand.
Surrounding white space is not part of a field. ``earmark prepare --edits FILE`` and the
pipelines apply edits with :func:`apply_edits`; the review page (``earmark review``) and the
pipeline stages write them.

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
from typing import Literal, TextIO

import numpy as np

from earmark.data.labels import LabelError, Labels
from earmark.io import CsvWriter, atomic_open, escape_cells, unescape_cell

__all__ = [
    "ACTIONS",
    "EDIT_COLUMNS",
    "MAX_FIELD_CHARS",
    "EditError",
    "EditReport",
    "FieldTooLongError",
    "LabelEdit",
    "append_edits",
    "apply_edits",
    "count_actions",
    "read_edits",
    "update_edits",
    "utc_now",
    "write_edits",
]

Action = Literal["add", "remove", "blacklist", "unlabel"]
ACTIONS: tuple[str, ...] = ("add", "remove", "blacklist", "unlabel")
_WHOLE_CLIP = ("blacklist", "unlabel")  # actions on the whole clip: their class is empty
_ALWAYS_COUNTED = ("add", "remove", "blacklist")  # count_actions lists these even when zero
EDIT_COLUMNS: tuple[str, ...] = ("clip", "class", "action", "who", "why", "time")
_REQUIRED = ("clip", "class", "action")
# attribute of LabelEdit -> its column
_FIELDS = {
    "clip": "clip",
    "class_name": "class",
    "action": "action",
    "who": "who",
    "why": "why",
    "time": "time",
}

MAX_FIELD_CHARS = 10_000
"""The most characters one field (``clip``, ``class``, ``action``, ``who``, ``why`` or ``time``) of a
label edit may hold. It is well below the csv module's own field limit (131,072 characters), so
every file :func:`write_edits` writes reads back."""


class EditError(LabelError):
    """A label-edits file or edit is malformed, or names a clip or class the labels lack."""


class FieldTooLongError(EditError):
    """A field of a label edit holds more than :data:`MAX_FIELD_CHARS` characters."""

    def __init__(self, message: str, *, column: str, length: int) -> None:
        super().__init__(message)
        self.column = column
        self.length = length


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
    class_name : the class (the file's ``class`` column); empty for ``blacklist`` and ``unlabel``.
    action : ``"add"``, ``"remove"``, ``"blacklist"`` or ``"unlabel"``.
    who : who decided (a name, or the tool that proposed it).
    why : a short reason.
    time : when, ISO-8601 UTC (empty when unknown).
    origin : where the edit was read from (``"edits.csv, line 4"``), for error messages; it is
        not written to files and not compared.

    Every field is stripped of surrounding white space and holds at most
    :data:`MAX_FIELD_CHARS` characters (:class:`FieldTooLongError` otherwise).

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
        _check_fields(self, where)
        if not self.clip:
            raise EditError(f"{where}an edit needs a clip id")
        if self.action not in ACTIONS:
            raise EditError(f"{where}unknown action {self.action!r}; valid actions: {', '.join(ACTIONS)}")
        if self.action in _WHOLE_CLIP and self.class_name:
            what = "excludes" if self.action == "blacklist" else "unlabels"
            raise EditError(
                f"{where}{self.action} {what} the whole clip {self.clip!r}; leave its class empty "
                f"(got {self.class_name!r})"
            )
        if self.action not in _WHOLE_CLIP and not self.class_name:
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


def _check_fields(edit: LabelEdit, where: str) -> None:
    """Strip every field; refuse a non-string, an over-long or a not UTF-8 encodable one."""
    for attribute, column in _FIELDS.items():
        value = getattr(edit, attribute)
        if not isinstance(value, str):
            raise EditError(f"{where}the {column} of an edit must be text, got {type(value).__name__}")
        value = value.strip()
        if len(value) > MAX_FIELD_CHARS:
            short = isinstance(edit.clip, str) and len(edit.clip) <= 80
            clip = repr(edit.clip) if short else "(an id too long to show)"
            raise FieldTooLongError(
                f"{where}the {column} of the edit of clip {clip} has {len(value):,} characters, more than "
                f"the {MAX_FIELD_CHARS:,} a label-edits field may hold; shorten it",
                column=column,
                length=len(value),
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise EditError(
                f"{where}the {column} of an edit is not valid text (it holds an unpaired surrogate)"
            ) from None
        object.__setattr__(edit, attribute, value)


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
    :class:`EditError` naming the file and line; a field longer than :data:`MAX_FIELD_CHARS`
    raises :class:`FieldTooLongError`, also naming them.
    """
    path = Path(path)
    if not path.is_file():
        raise EditError(f"label-edits file not found: {path}")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = _numbered_rows(path, handle)
        first = next(rows, None)
        if first is None:
            raise EditError(f"{path} is empty; expected a header {','.join(EDIT_COLUMNS)}")
        header = [unescape_cell(name.strip()) for name in first[1]]
        absent = [name for name in _REQUIRED if name not in header]
        if absent:
            raise EditError(
                f"{path}: no column {absent[0]!r} (header: {', '.join(header)}); "
                f"a label-edits file has the columns {', '.join(EDIT_COLUMNS)}"
            )
        column = {name: header.index(name) for name in EDIT_COLUMNS if name in header}
        edits = []
        for line, row in rows:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise EditError(f"{path}, line {line}: {len(row)} cells, the header has {len(header)}")
            cell = {name: unescape_cell(row[index]) for name, index in column.items()}
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


def _numbered_rows(path: Path, handle: TextIO) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` of each CSV record; :class:`EditError` naming the line for what csv refuses."""
    reader = csv.reader(handle)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _csv_error(path, reader.line_num, error) from None
        except UnicodeDecodeError as error:
            raise EditError(
                f"{path}: not UTF-8 text after line {reader.line_num} ({error.reason}); save it as UTF-8"
            ) from None
        yield reader.line_num, row


def _csv_error(path: Path, line: int, error: csv.Error) -> EditError:
    if "field larger than field limit" in str(error):
        return FieldTooLongError(
            f"{path}, line {line}: a field is longer than the {MAX_FIELD_CHARS:,} characters a "
            "label-edits field may hold (a reason is a sentence, not a document); shorten it",
            column="",
            length=csv.field_size_limit(),
        )
    return EditError(f"{path}, line {line}: not readable as CSV ({error})")


def write_edits(path: str | Path, edits: Iterable[LabelEdit]) -> Path:
    """Write ``edits`` to ``path`` atomically (a temporary file renamed into place).

    Every edit is checked first: a field longer than :data:`MAX_FIELD_CHARS` raises
    :class:`FieldTooLongError` and leaves ``path`` as it was, so whatever is written reads back.
    """
    path = Path(path)
    rows = list(edits)
    for number, edit in enumerate(rows, start=1):
        _check_fields(edit, f"cannot write {path}, edit {number}: ")
    with atomic_open(path, "w", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(EDIT_COLUMNS)
        writer.writerows(escape_cells(edit.row()) for edit in rows)  # spreadsheet-safe text
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
    message per edit that named an unknown clip or class (only with ``strict=False``);
    ``unlabeled`` the clips the edits left unlabeled.
    """

    actions: dict[str, int]
    changed_entries: int
    blacklisted: tuple[str, ...]
    unknown: tuple[str, ...]
    unlabeled: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-safe data."""
        return {
            "actions": dict(self.actions),
            "changed_entries": self.changed_entries,
            "blacklisted": len(self.blacklisted),
            "unlabeled": len(self.unlabeled),
            "unknown": list(self.unknown),
        }


def count_actions(edits: Iterable[LabelEdit]) -> dict[str, int]:
    """Edits per action: ``add``, ``remove``, ``blacklist`` always (zero included), ``unlabel`` if used."""
    counts = Counter(str(edit.action) for edit in edits)
    return {action: counts[action] for action in ACTIONS if action in _ALWAYS_COUNTED or counts[action]}


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
        ``unlabel`` clips with every entry missing and source ``unlabeled`` (an ``add`` or
        ``remove`` after it labels the clip again, with its source before), blacklisted clips
        gone (the others in their original order).
    report
        An :class:`EditReport`.

    """
    row_of = {clip: i for i, clip in enumerate(labels.clip_ids.tolist())}
    column_of = {name: j for j, name in enumerate(labels.class_names)}
    positive = labels.positive.copy()
    annotated = labels.annotated.copy()
    source = labels.source.copy()
    blacklisted: dict[str, None] = {}
    unlabeled: dict[str, None] = {}
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
        i = row_of[edit.clip]
        if edit.action == "blacklist":
            blacklisted[edit.clip] = None
        elif edit.action == "unlabel":
            positive[i], annotated[i], source[i] = False, False, "unlabeled"
            unlabeled[edit.clip] = None
        else:
            j = column_of[edit.class_name]
            positive[i, j] = edit.action == "add"
            annotated[i, j] = True
            if edit.clip in unlabeled:  # labeled again: its source before comes back
                del unlabeled[edit.clip]
                source[i] = labels.source[i]
    changed = int(((positive != labels.positive) | (annotated != labels.annotated)).sum())
    edited = dataclasses.replace(labels, positive=positive, annotated=annotated, source=source)
    if blacklisted:
        edited = edited.take(~np.isin(edited.clip_ids, np.array(list(blacklisted), dtype=object)))
    left_unlabeled = tuple(clip for clip in unlabeled if clip not in blacklisted)
    report = EditReport(
        count_actions(applied), changed, tuple(blacklisted), tuple(unknown), unlabeled=left_unlabeled
    )
    return edited, report


def _unknown_name(
    edit: LabelEdit, row_of: dict[str, int], column_of: dict[str, int], labels: Labels
) -> str | None:
    where = f"{edit.origin}: " if edit.origin else ""
    if edit.clip not in row_of:
        return f"{where}{edit.action} edit names unknown clip {edit.clip!r} ({len(labels)} clips known)"
    if edit.action not in _WHOLE_CLIP and edit.class_name not in column_of:
        return (
            f"{where}{edit.action} edit of clip {edit.clip!r} names unknown class {edit.class_name!r} "
            f"(vocabulary of {labels.num_classes})"
        )
    return None
