"""A flat folder named like the spoken-digit set, prepared with one command and no label table."""

from __future__ import annotations

import csv

from typer.testing import CliRunner

from earmark.cli import app
from earmark.testing import write_tone

runner = CliRunner()


def test_one_prepare_command_on_a_spoken_digit_folder(tmp_path):
    root = tmp_path / "recordings"
    for digit in range(3):
        for speaker in ("jackson", "theo"):
            for index in range(7):
                write_tone(
                    root / f"{digit}_{speaker}_{index}.wav",
                    frequency_hz=200.0 + 150 * digit,
                    duration_seconds=0.2,
                    sample_rate=8000,
                )
    out = tmp_path / "prepared"
    result = runner.invoke(
        app,
        [
            "prepare",
            "files",
            "--root",
            str(root),
            "--out",
            str(out),
            "--set",
            r"pattern=^(?P<label>\d)_(?P<group>[a-z]+)_(?P<index>\d+)",
            "--set",
            "test=index<5",
            "--frontend-set",
            "n_mels=16",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "42 clips, 3 classes, splits test, train" in result.output
    assert sorted(p.name for p in (out / "features").iterdir()) == ["test", "train"]
    with open(out / "labels.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 42
    assert not (root / "labels.csv").exists()
