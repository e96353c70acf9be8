"""main(): user errors are one line and exit 2; --debug shows the traceback."""

from __future__ import annotations

import errno
import sys

import pytest

import earmark.cli
from earmark.cli import describe_error, main


def _run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["earmark", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code or 0), capsys.readouterr().err


def test_a_full_disk_is_one_line_naming_the_file(monkeypatch, capsys, tmp_path):
    def full_disk(path, text, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("earmark.cli.config_cmd.write_text_atomic", full_disk)
    code, err = _run_main(monkeypatch, capsys, "write-default-config", str(tmp_path / "prepare.yaml"))
    assert code == 2
    assert (
        "prepare.yaml: No space left on device (the disk is full; files written before are intact"
        in " ".join(err.split())
    )
    assert "Traceback" not in err


def test_a_read_only_disk_and_a_bad_value_are_one_line(monkeypatch, capsys, tmp_path):
    def read_only(path, text, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr("earmark.cli.config_cmd.write_text_atomic", read_only)
    code, err = _run_main(monkeypatch, capsys, "write-default-config", str(tmp_path / "p.yaml"))
    assert code == 2
    assert "p.yaml: Read-only file system (choose a writable location)" in " ".join(err.split())
    code, err = _run_main(monkeypatch, capsys, "write-default-config", "-", "--kind", "nope")
    assert code == 2
    assert "unknown config kind 'nope'" in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["earmark", "--debug", "write-default-config", "-", "--kind", "nope"])
    with pytest.raises(ValueError, match="unknown config kind"):
        main()


def test_describe_error_keeps_plain_messages():
    assert describe_error(ValueError("optim.lr must be positive")) == "optim.lr must be positive"
    assert describe_error(OSError(errno.EROFS, "Read-only file system", "/x/y")) == (
        "/x/y: Read-only file system (choose a writable location)"
    )
    assert earmark.cli.main is main
