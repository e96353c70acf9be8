"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Every write goes to a temporary file in the target's directory (so the rename never crosses a
file system), is flushed and fsynced, renamed over the target with :func:`os.replace`, and the
directory is fsynced where the platform allows it, so that the rename itself survives a crash.
On any error the temporary file is removed and the old file is left as it was.

Examples
--------
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
import os
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, BinaryIO, Literal, TextIO, cast, overload

__all__ = ["atomic_open", "atomic_path", "write_bytes_atomic", "write_text_atomic"]

_ATTEMPTS = 16


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
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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
