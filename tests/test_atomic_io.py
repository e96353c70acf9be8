from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from earmark import io as earmark_io
from earmark.io import atomic_open, atomic_path, write_bytes_atomic, write_text_atomic


class _WriterFailedError(RuntimeError):
    pass


def _write_then_fail(target: Path, mode: str) -> None:
    with atomic_open(target, mode) as handle:  # type: ignore[call-overload]
        handle.write("partial" if mode == "w" else b"partial")
        raise _WriterFailedError


def _write_path_then_fail(target: Path) -> None:
    with atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise _WriterFailedError


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_text_content_is_exact(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    text = "é,ü\nsecond line\r\nno end"
    assert write_text_atomic(target, text, newline="") == target
    assert target.read_bytes() == text.encode("utf-8")
    assert _listing(tmp_path) == ["a.txt"]


def test_text_encoding_is_honoured(tmp_path: Path) -> None:
    target = tmp_path / "latin.txt"
    write_text_atomic(target, "é", encoding="latin-1")
    assert target.read_bytes() == b"\xe9"


def test_bytes_replace_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "b.bin"
    target.write_bytes(b"old content that is longer")
    write_bytes_atomic(target, b"\x00new\xff")
    assert target.read_bytes() == b"\x00new\xff"
    assert _listing(tmp_path) == ["b.bin"]


def test_parent_directories_are_created(tmp_path: Path) -> None:
    target = tmp_path / "x" / "y" / "c.txt"
    write_text_atomic(target, "c")
    assert target.read_text(encoding="utf-8") == "c"


@pytest.mark.parametrize("mode", ["w", "wb"])
def test_failing_writer_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "kept.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(_WriterFailedError):
        _write_then_fail(target, mode)
    assert target.read_text(encoding="utf-8") == "old"
    assert _listing(tmp_path) == ["kept.txt"]


def test_failing_writer_creates_nothing_when_absent(tmp_path: Path) -> None:
    target = tmp_path / "never.txt"
    with pytest.raises(_WriterFailedError):
        _write_then_fail(target, "w")
    assert _listing(tmp_path) == []


def test_failing_rename_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "kept.bin"
    target.write_bytes(b"old")

    def broken_replace(source: object, destination: object) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(earmark_io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk went away"):
        write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert _listing(tmp_path) == ["kept.bin"]


def test_file_and_directory_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(descriptor).st_mode))
        real_fsync(descriptor)

    monkeypatch.setattr(earmark_io.os, "fsync", recording_fsync)
    write_text_atomic(tmp_path / "d.txt", "d")
    expected = [False, True] if hasattr(os, "O_DIRECTORY") else [False]
    assert synced == expected


def test_atomic_open_rejects_other_modes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"):
        atomic_open(tmp_path / "e.txt", "a")  # type: ignore[call-overload]


def test_atomic_open_serves_savez(tmp_path: Path) -> None:
    target = tmp_path / "index.npz"
    with atomic_open(target, "wb") as handle:
        np.savez(handle, values=np.arange(4))
    with np.load(target) as loaded:
        np.testing.assert_array_equal(loaded["values"], np.arange(4))
    assert _listing(tmp_path) == ["index.npz"]


def test_atomic_path_keeps_the_suffix_for_np_save(tmp_path: Path) -> None:
    target = tmp_path / "vectors.npy"
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path
        assert temporary.suffix == ".npy"
        np.save(temporary, np.ones((2, 3), dtype=np.float32))
    np.testing.assert_array_equal(np.load(target), np.ones((2, 3), dtype=np.float32))
    assert _listing(tmp_path) == ["vectors.npy"]


def test_atomic_path_failure_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with pytest.raises(_WriterFailedError):
        _write_path_then_fail(target)
    assert target.read_bytes() == b"old"
    assert _listing(tmp_path) == ["model.pt"]


def test_new_files_follow_the_umask(tmp_path: Path) -> None:
    reference = tmp_path / "plain.txt"
    reference.write_text("p", encoding="utf-8")
    target = tmp_path / "atomic.txt"
    write_text_atomic(target, "p")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)
