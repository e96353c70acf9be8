"""main(): user errors are one line and exit 2; --debug shows the traceback."""

from __future__ import annotations

import errno
import importlib
import pkgutil
import re
import socket
import sys
import types

import pytest

import earmark.cli
from earmark.cli import describe_error, main
from earmark.testing.prepared import make_prepared


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


# --- issue 15: each anticipated failure is one line from main(), never a traceback ---------------


def _one_line_error(monkeypatch, capsys, *args: str) -> str:
    """Run main() on ``args``; assert exit 2 and one ``error:`` line (a progress bar aside); return it."""
    monkeypatch.setenv("COLUMNS", "1000")  # the console must not wrap the line
    code, err = _run_main(monkeypatch, capsys, *args)
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    others = [line for line in err.splitlines() if line.strip() and not line.startswith("error: ")]
    assert all(line.startswith("train ") for line in others), err  # at most a progress bar
    return errors[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("prepare", "folder", "--out", "{tmp}/p", "--root", "{tmp}", "--set", "fold_pattern=[1"),
            r"override 'fold_pattern=\[1': the value is not valid YAML \(expected ',' or '\]'",
        ),
        (("train", "optim.lr=[1"), r"override 'optim.lr=\[1': the value is not valid YAML"),
        (("train", "device=banana"), r"device must be auto, cpu, cuda, cuda:N or mps, got 'banana'"),
        (
            ("train", "data.test_folds=[99999999999999999999999]"),
            r"data.test_folds\[0\] must be an integer in \[-9223372036854775808, 9223372036854775807\]",
        ),
        (
            ("train", "optim.grad_clip_norm=-1"),
            r"optim.grad_clip_norm must be positive and <= 1000000 \(or null\), got -1.0",
        ),
        (("train", "optim.min_lr_ratio=-50"), r"optim.min_lr_ratio must be in \[0, 1\], got -50.0"),
        (("train", "predict_hop_frames=-5"), r"predict_hop_frames must be positive \(or null\), got -5"),
        (("train", "optim.lr=.nan"), r"optim.lr must be a finite number, got nan"),
        (
            ("prepare", "openmic", "--out", "{tmp}/p"),
            r"layout 'openmic': missing required config key openmic.npz, openmic.class_map",
        ),
        (
            ("prepare", "folder", "--out", "{tmp}/p", "--root", "{tmp}", "--frontend-set", "n_mels=100000"),
            r"n_mels \(100000\) exceeds the 513 frequency bins of n_fft 1024",
        ),
        (
            ("prepare", "folder", "--out", "{tmp}/p", "--root", "{tmp}", "--frontend-set", "n_fft=1"),
            r"frontend.n_fft must be in \[16, 65536\], got 1",
        ),
        (("predict", "{tmp}", "--run", "{tmp}", "--top-k", "0"), r"--top-k must be in \[1, 100000\], got 0"),
        (("audit", "missing", "--run", "{tmp}", "--per-class", "-1"), r"--per-class must be >= 1, got -1"),
        (("audit", "missing", "--run", "{tmp}", "--per-class", "0"), r"--per-class must be >= 1, got 0"),
        (("audit", "missing", "--run", "{tmp}", "--limit", "-3"), r"--limit must be >= 1, got -3"),
        (
            ("audit", "missing", "--run", "{tmp}", "--min-score", "nan"),
            r"--min-score must be a finite",
        ),
        (
            (
                "evaluate",
                "--predictions",
                "{tmp}/p.csv",
                "--labels",
                "{tmp}/l.csv",
                "--out",
                "{tmp}/e",
                "--bootstrap",
                "-1",
            ),
            r"--bootstrap must be in \[0, 1000000\], got -1",
        ),
        (("tags", "categorize", "{tmp}/t.txt", "--score-level", "1.5"), r"--score-level must be in \[0, 1\]"),
        (
            ("tags", "collapse", "{tmp}/t.txt", "--vocabulary", "{tmp}/v.txt", "--percentile", "0"),
            r"--percentile must be positive and < 100, got 0",
        ),
        (("tags", "lookup", "rock", "--mapping", "{tmp}/m.csv", "--limit", "-1"), r"--limit must be >= 0"),
        (
            (
                "tags",
                "to-labels",
                "{tmp}/c.csv",
                "--mapping",
                "{tmp}/m.csv",
                "--out",
                "{tmp}/l.csv",
                "--min-count",
                "nan",
            ),
            r"--min-count must be a finite number",
        ),
    ],
)
def test_bad_values_are_one_line_naming_the_key(monkeypatch, capsys, tmp_path, args, message):
    line = _one_line_error(monkeypatch, capsys, *(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert re.search(message, line), line


def test_a_config_nested_five_thousand_deep_is_one_line(monkeypatch, capsys, tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("optim: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    line = _one_line_error(monkeypatch, capsys, "train", "--config", str(deep))
    assert f"{deep} is nested too deeply to read as YAML" in line


def test_an_output_path_that_is_a_directory_or_under_a_file_is_one_line(monkeypatch, capsys, tmp_path):
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    line = _one_line_error(monkeypatch, capsys, "write-default-config", str(folder), "--force")
    assert "folder.yaml: Is a directory (it is a directory; give a file name)" in line
    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    line = _one_line_error(monkeypatch, capsys, "write-default-config", str(a_file / "p.yaml"))
    assert f"{a_file}: File exists (a file is in the way where a directory is needed)" in line


def test_a_review_port_already_in_use_is_one_line(monkeypatch, capsys, tmp_path):
    def fake_build(audit, store, out_dir, **kwargs):  # type: ignore[no-untyped-def]
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "review.json").write_text('{"classes": [], "clips": []}', encoding="utf-8")
        return types.SimpleNamespace(html=out_dir / "index.html", num_items=0, num_clips=0, notes=[])

    monkeypatch.setattr("earmark.review.build_review", fake_build)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["review", str(tmp_path / "a.csv"), "--store", str(tmp_path), "--out", str(tmp_path / "r")]
        line = _one_line_error(monkeypatch, capsys, *args, "--serve", "--port", str(port))
    assert "Address already in use (the port is taken; choose another with --port" in line


def test_resuming_with_another_model_is_one_line(monkeypatch, capsys, tmp_path):
    prepared = make_prepared(tmp_path / "prepared", num_clips=12)
    tiny = ["segment_frames=16", "batch_size=4", "epochs=1", "report=false", f"data.prepared={prepared}"]
    cnn = ["model=cnn", "model_options={channels: [4], width_multiplier: 1.0}"]
    run_dir = str(tmp_path / "run")
    code, err = _run_main(monkeypatch, capsys, "train", "--run-dir", run_dir, *cnn, *tiny)
    assert code == 0, err
    crnn = ["model=crnn", "model_options={channels: [4], width_multiplier: 1.0}"]
    line = _one_line_error(monkeypatch, capsys, "train", "--run-dir", run_dir, "--resume", *crnn, *tiny)
    assert "holds a run of other settings or labels than these; it cannot be resumed" in line


def test_the_help_example_lr_3e_3_is_a_float(monkeypatch):
    from earmark.cli.train_cmd import load_train_config

    assert load_train_config(None, ["optim.lr=3e-3"]).optim.lr == pytest.approx(0.003)


def test_ctrl_c_is_one_line_interrupted_with_exit_130(monkeypatch, capsys):
    def interrupt(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr("earmark.cli.config_cmd.commented_yaml", interrupt)
    code, err = _run_main(monkeypatch, capsys, "write-default-config", "-")
    assert code == 130
    assert err.strip() == "interrupted"


def test_every_earmark_exception_is_an_earmark_error_and_still_a_value_error():
    import earmark
    from earmark.errors import EarmarkError
    from earmark.training.trainer import TrainingDiverged

    assert earmark.EarmarkError is EarmarkError
    diverged = TrainingDiverged("the loss became nan")
    assert isinstance(diverged, RuntimeError)
    assert isinstance(diverged, EarmarkError)
    for module in _earmark_modules():
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__.startswith("earmark")
            ):
                assert issubclass(value, EarmarkError), f"{value.__module__}.{name} is no EarmarkError"
                assert issubclass(value, ValueError), f"{value.__module__}.{name} is no ValueError"


def _earmark_modules() -> list[types.ModuleType]:
    import earmark

    found = []
    for info in pkgutil.walk_packages(earmark.__path__, "earmark."):
        if info.name == "earmark.__main__":  # runs the command line
            continue
        try:
            found.append(importlib.import_module(info.name))
        except ImportError:  # an optional dependency is absent
            continue
    return found
