"""Atomic file writes, and CSV cells that a spreadsheet shows as text, never runs.

**Atomic writes**: a reader sees the old file or the whole new one, never a part.

Every write goes to a temporary file in the target's directory (so the rename never crosses a
file system), is flushed and fsynced, renamed over the target with :func:`os.replace`, and the
directory is fsynced where the platform allows it, so that the rename itself survives a crash.
On any error the temporary file is removed and the old file is left as it was.

**Spreadsheet-safe CSV**: a spreadsheet opening a CSV evaluates a cell that starts with ``=``,
``+``, ``-`` or ``@`` (and some also after a leading tab or carriage return) as a formula, so a
clip id or tag such as ``=HYPERLINK(...)`` would run when the file is opened. Every CSV that
earmark writes passes its text cells (clip ids, class names, tags, paths, who and why; never
its numeric columns) through :func:`escape_cell`, which puts a single quote ``'`` before such a
cell, and before a cell that itself starts with ``'``; every reader passes them through
:func:`unescape_cell`, which removes exactly that quote, so text round-trips unchanged. A quote
that does not precede one of those characters is kept, so hand-written files read as typed.

earmark's CSV files end their rows with a line feed; :class:`CsvWriter` writes them and quotes a
cell holding a carriage return, which Python's ``csv.writer`` leaves bare when the carriage
return is not part of its line terminator (a reader would then split the row there).

Set the environment variable ``EARMARK_CSV_SAFE=0`` (also ``false``, ``no``, ``off``) to write
and read text cells raw; ``1`` (or unset) is the default. Read files written with it off with it
off too: a raw cell such as ``'=x`` would otherwise lose its quote.

Examples
--------
>>> escape_cell("=1+1"), escape_cell("-0.25 dB"), escape_cell("dog")
("'=1+1", "'-0.25 dB", 'dog')
>>> unescape_cell(escape_cell("'quoted")) == "'quoted"
True
>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
>>> _ = write_text_atomic(target, "hello")
>>> with atomic_open(target, "w") as handle:
...     _ = handle.write("bye")
>>> target.read_text()
'bye'

"""

from __future__ import annotations

import contextlib
import csv
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, BinaryIO, Literal, TextIO, cast, overload

__all__ = [
    "CSV_SAFE_VARIABLE",
    "CsvWriter",
    "atomic_open",
    "atomic_path",
    "csv_safe_enabled",
    "escape_cell",
    "escape_cells",
    "unescape_cell",
    "write_bytes_atomic",
    "write_text_atomic",
]

_ATTEMPTS = 16

#: the environment variable that turns spreadsheet-safe CSV cells off (``0``) or on (``1``)
CSV_SAFE_VARIABLE = "EARMARK_CSV_SAFE"
_FORMULA_STARTS = frozenset("=+-@\t\r")
_QUOTE = "'"
_OFF = frozenset({"0", "false", "no", "off"})
_ON = frozenset({"", "1", "true", "yes", "on"})


def write_text_atomic(
    path: str | Path, text: str, *, encoding: str = "utf-8", newline: str | None = None
) -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``.

    Parameters
    ----------
    path
        The file to write; its parent directories are created when absent.
    text
        The whole content.
    encoding, newline
        As for :func:`open` (``newline=None`` writes the platform's line end).

    """
    with atomic_open(path, "w", encoding=encoding, newline=newline) as handle:
        handle.write(text)
    return Path(path)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


@overload
def atomic_open(
    path: str | Path, mode: Literal["w"] = ..., *, encoding: str = ..., newline: str | None = ...
) -> AbstractContextManager[TextIO]: ...


@overload
def atomic_open(
    path: str | Path, mode: Literal["wb"], *, encoding: str = ..., newline: str | None = ...
) -> AbstractContextManager[BinaryIO]: ...


def atomic_open(
    path: str | Path,
    mode: Literal["w", "wb"] = "w",
    *,
    encoding: str = "utf-8",
    newline: str | None = None,
) -> AbstractContextManager[TextIO] | AbstractContextManager[BinaryIO]:
    """A file object for ``path`` whose content replaces ``path`` only when the block succeeds.

    For writers that need a file object (``csv.writer``, ``np.savez``, ``torch.save``).

    Parameters
    ----------
    path
        The file to write; its parent directories are created when absent.
    mode
        ``"w"`` (text) or ``"wb"`` (bytes).
    encoding, newline
        As for :func:`open`; ignored in bytes mode.

    Raises
    ------
    ValueError
        For any other ``mode``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "arrays.npz"
    >>> with atomic_open(target, "wb") as handle:
    ...     np.savez(handle, values=np.arange(3))
    >>> np.load(target)["values"].tolist()
    [0, 1, 2]

    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes with mode 'w' or 'wb', not {mode!r}")
    opened = _atomic_open(Path(path), mode, encoding, newline)
    if mode == "wb":
        return cast("AbstractContextManager[BinaryIO]", opened)
    return cast("AbstractContextManager[TextIO]", opened)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over ``path`` when the block succeeds.

    For writers that only take a file name (``torch.jit.save``, ``torch.onnx.export``,
    ``np.save``). The temporary name ends with ``path``'s suffix, so writers that add a missing
    suffix (``np.save`` adds ``.npy``) keep the name given. The file exists (empty) when the
    block starts; the writer overwrites it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "model.bin"
    >>> with atomic_path(target) as temporary:
    ...     _ = temporary.write_bytes(b"weights")
    >>> target.read_bytes()
    b'weights'

    """
    target = Path(path)
    descriptor, temporary = _create_temporary(target)
    os.close(descriptor)
    try:
        yield temporary
        _fsync_file(temporary)
        _commit(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise _naming(error, target) from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def csv_safe_enabled() -> bool:
    """Whether CSV text cells are escaped on writing and unescaped on reading (the default).

    Raises
    ------
    ValueError
        When :data:`CSV_SAFE_VARIABLE` holds something other than ``1``/``0`` (or ``true``,
        ``false``, ``yes``, ``no``, ``on``, ``off``), naming the variable and its value.

    """
    value = os.environ.get(CSV_SAFE_VARIABLE, "")
    setting = value.strip().lower()
    if setting in _ON:
        return True
    if setting in _OFF:
        return False
    raise ValueError(
        f"environment variable {CSV_SAFE_VARIABLE}={value!r}: use 1 to write spreadsheet-safe CSV "
        "cells (the default) or 0 to write them raw"
    )


def escape_cell(text: str) -> str:
    """A CSV text cell a spreadsheet shows as text: ``'`` put before a formula-like cell.

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or ``'`` gets a
    leading ``'``; any other cell is returned as it is. Use it for text columns only: a number
    written for a numeric column (``-0.25``) must stay a number. Does nothing when
    :data:`CSV_SAFE_VARIABLE` is ``0``. :func:`unescape_cell` is the inverse.
    """
    if not text or (text[0] not in _FORMULA_STARTS and text[0] != _QUOTE):
        return text
    return _QUOTE + text if csv_safe_enabled() else text


def escape_cells(texts: Iterable[str]) -> list[str]:
    """:func:`escape_cell` of every cell of a row of text cells (a header, say)."""
    return [escape_cell(text) for text in texts]


def unescape_cell(text: str) -> str:
    """The text :func:`escape_cell` was given: one leading ``'`` removed where it added one.

    The quote goes only when a formula character or another ``'`` follows it, so a hand-written
    ``'tis`` reads as written. Does nothing when :data:`CSV_SAFE_VARIABLE` is ``0``.
    """
    if len(text) < 2 or text[0] != _QUOTE:
        return text
    if text[1] not in _FORMULA_STARTS and text[1] != _QUOTE:
        return text
    return text[1:] if csv_safe_enabled() else text


class CsvWriter:
    r"""Writes CSV rows ended by ``\n``; a row with a cell holding ``\r`` has its cells quoted.

    Escaping cells is the caller's part (:func:`escape_cell` on its text cells); this writer
    only keeps every row on its line.

    Parameters
    ----------
    handle
        A text file opened with ``newline=""``.

    Examples
    --------
    >>> import io
    >>> buffer = io.StringIO()
    >>> writer = CsvWriter(buffer)
    >>> writer.writerow(["clip", "score"])
    >>> writer.writerow(["a\rb", -0.25])
    >>> buffer.getvalue()
    'clip,score\n"a\rb","-0.25"\n'

    """

    def __init__(self, handle: IO[str]) -> None:
        self._plain = csv.writer(handle, lineterminator="\n")
        self._quoted = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Sequence[object], *, numeric_from: int | None = None) -> None:
        """Write one row; ``numeric_from``: its cells from that position on are numbers (not searched)."""
        text = row if numeric_from is None else row[:numeric_from]
        bare_return = any(isinstance(cell, str) and "\r" in cell for cell in text)
        (self._quoted if bare_return else self._plain).writerow(row)

    def writerows(self, rows: Iterable[Sequence[object]]) -> None:
        """Write every row of ``rows`` (see :meth:`writerow`)."""
        for row in rows:
            self.writerow(row)


@contextlib.contextmanager
def _atomic_open(
    target: Path, mode: Literal["w", "wb"], encoding: str, newline: str | None
) -> Iterator[TextIO | BinaryIO]:
    descriptor, temporary = _create_temporary(target)
    try:
        handle: IO[str] | IO[bytes]
        if mode == "wb":
            handle = os.fdopen(descriptor, "wb")
        else:
            handle = os.fdopen(descriptor, "w", encoding=encoding, newline=newline)
        with handle:
            yield cast("TextIO | BinaryIO", handle)
            handle.flush()
            os.fsync(handle.fileno())
        _commit(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise _naming(error, target) from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _naming(error: OSError, target: Path) -> OSError:
    """``error`` with ``target`` as its file name when it has none (a write or fsync failing)."""
    if error.filename is not None or error.errno is None:
        return error
    return type(error)(error.errno, error.strerror, str(target))


def _create_temporary(target: Path) -> tuple[int, Path]:
    """Create an empty, new file beside ``target``; returns its descriptor and path.

    ``os.open`` with mode ``0o666`` lets the umask decide the permissions, as a plain
    :func:`open` would (``tempfile.mkstemp`` would make the file private to its owner).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_ATTEMPTS):
        temporary = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp{target.suffix}")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {target}")


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _commit(temporary: Path, target: Path) -> None:
    os.replace(temporary, target)
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable; a no-op where directories cannot be opened."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
