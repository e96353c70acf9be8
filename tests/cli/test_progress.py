"""Progress a log file can read: plain lines when stdout is not a terminal, none with --quiet."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from earmark.cli.progress import ProgressReport, plain_line
from earmark.testing import write_tone
from earmark.testing.prepared import make_prepared


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_line_gives_done_rate_elapsed_eta_and_values():
    line = plain_line("train", 200, 1000, "steps", 50.0, {"loss": 0.3125, "valid lwlrap": 0.71})
    assert line == (
        "train: 200/1000 steps (20.0 %), 4 steps/s, elapsed 0:00:50, ETA 0:03:20, "
        "loss 0.3125, valid lwlrap 0.7100"
    )
    assert plain_line("fold", 7, None, "steps", 0.0) == "fold: 7 steps, 0 steps/s, elapsed 0:00:00"
    capped = plain_line("train", 200, 1000, "steps", 50.0, seconds_left=70.0)
    assert capped == "train: 200/1000 steps (20.0 %), 4 steps/s, elapsed 0:00:50, ETA 0:01:10"


def test_lines_come_at_most_every_n_seconds_and_at_the_end(capsys):
    clock = FakeClock()
    with ProgressReport("prepare", unit="clips", every_seconds=10, terminal=False, clock=clock) as report:
        report.update(0, 100)
        for _ in range(30):
            clock.now += 1
            report.advance(2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "prepare: 0/100 clips (0.0 %)",
        "prepare: 20/100 clips (20.0 %)",
        "prepare: 40/100 clips (40.0 %)",
        "prepare: 60/100 clips (60.0 %)",
    ]
    assert "2 clips/s" in lines[1]
    assert "ETA 0:00:40" in lines[1]


def test_the_end_line_comes_when_units_were_done_since_the_last_line(capsys):
    clock = FakeClock()
    with ProgressReport("prepare", unit="clips", every_seconds=10, terminal=False, clock=clock) as report:
        report.update(0, 4)
        clock.now += 1
        report.update(3)
        clock.now += 1
        report.update(4)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "prepare: 0/4 clips (0.0 %)",
        "prepare: 4/4 clips (100.0 %)",
    ]


def test_a_restart_counts_the_next_fold_from_zero(capsys):
    clock = FakeClock()
    with ProgressReport("fold", unit="steps", every_seconds=0, terminal=False, clock=clock) as report:
        clock.now += 10
        report.update(20, 20)
        clock.now += 100
        report.restart(clock.now - 1)
        clock.now += 4
        report.update(5, 20)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "fold: 20/20 steps (100.0 %), 2 steps/s, elapsed 0:00:10"
    assert lines[1] == "fold: 5/20 steps (25.0 %), 1 steps/s, elapsed 0:00:05, ETA 0:00:15"


def test_quiet_prints_nothing(capsys):
    with ProgressReport("train", unit="steps", quiet=True, terminal=False) as report:
        report.update(5, 10)
        report.note("fold 1: done")
    assert capsys.readouterr().out == ""


def test_a_negative_interval_is_refused():
    with pytest.raises(ValueError, match="--progress-seconds must be >= 0"):
        ProgressReport("train", unit="steps", every_seconds=-1)


def earmark_to_file(log: Path, *args: str) -> str:
    """Run ``earmark ARGS`` with stdout redirected to ``log``; the log's text."""
    with open(log, "w", encoding="utf-8") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "earmark", *args],
            stdout=handle,
            stderr=subprocess.PIPE,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr
    return log.read_text(encoding="utf-8")


PROGRESS = r"{what}: \d+/\d+ {unit} \(\d+\.\d %\), [\d.e+]+ {unit}/s, elapsed \d:\d\d:\d\d"


def test_prepare_and_train_redirected_to_a_file_leave_progress_lines(tmp_path):
    for label in range(2):
        for index in range(4):
            write_tone(tmp_path / "audio" / f"{label}_a_{index}.wav", duration_seconds=0.3, sample_rate=8000)
    args = [
        "--root",
        str(tmp_path / "audio"),
        "--set",
        r"pattern=^(?P<label>\d)_",
        "--frontend-set",
        "n_mels=8",
    ]
    text = earmark_to_file(tmp_path / "prepare.log", "prepare", "files", "--out", str(tmp_path / "p"), *args)
    lines = [
        line for line in text.splitlines() if re.match(PROGRESS.format(what="prepare", unit="clips"), line)
    ]
    assert len(lines) >= 2, text
    assert lines[-1].startswith("prepare: 8/8 clips (100.0 %)")

    prepared = make_prepared(tmp_path / "prepared", num_clips=24)
    tiny = ["model=cnn", "model_options={channels: [4, 8]}", "segment_frames=16", "batch_size=8", "epochs=2"]
    run = [
        "train",
        "--run-dir",
        str(tmp_path / "run"),
        "--progress-seconds",
        "0",
        f"data.prepared={prepared}",
    ]
    text = earmark_to_file(tmp_path / "train.log", *run, "data.valid_folds=[2]", "data.test_folds=[3]", *tiny)
    lines = [
        line for line in text.splitlines() if re.match(PROGRESS.format(what="train", unit="steps"), line)
    ]
    assert len(lines) >= 3, text
    assert re.search(r"loss \d+\.\d{4}", lines[-1]), lines[-1]
    assert re.search(r"valid \w+ \d+\.\d{4}", lines[-1]), lines[-1]
    quiet_run = ["train", "--run-dir", str(tmp_path / "run2"), "--quiet", f"data.prepared={prepared}", *tiny]
    assert "train:" not in earmark_to_file(tmp_path / "quiet.log", *quiet_run)


def test_a_report_never_updated_prints_its_notes_and_no_end_line(capsys):
    # `earmark cv --jobs 2`: the folds train in other processes, only their results come back
    with ProgressReport("fold", unit="steps", terminal=False, clock=FakeClock()) as report:
        report.note("fold 1: accuracy 0.9")
    assert capsys.readouterr().out.splitlines() == ["fold 1: accuracy 0.9"]
