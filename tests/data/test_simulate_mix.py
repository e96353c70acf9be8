"""``earmark simulate mix`` over any folder-per-class data set or prepared directory."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earmark.cli import app
from earmark.config import ConfigError
from earmark.data.labels import Labels
from earmark.data.loaders import load_dataset
from earmark.data.simulate import limit_per_class, sources_from_labels
from earmark.testing import write_tone

runner = CliRunner()
CLASSES = {"cello": 220.0, "flute": 880.0, "organ": 110.0, "piano": 440.0}


def instrument_notes(root: Path, *, recordings: int = 3, takes: int = 2) -> Path:
    """A folder per class; ``<instrument><recording>-<take>.wav``: takes of one recording share a prefix."""
    for name, frequency in CLASSES.items():
        for recording in range(recordings):
            for take in range(takes):
                write_tone(
                    root / name / f"{name}{recording}-{take}.wav",
                    frequency_hz=frequency * (1 + 0.1 * take),
                    duration_seconds=0.3,
                    sample_rate=8000,
                )
    return root


def mixture_rows(table: Path) -> list[dict[str, str]]:
    with open(table, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def recordings_by_split(table: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"train": set(), "test": set()}
    for row in mixture_rows(table):
        split = row["path"].split("/")[1]
        found[split].update(re.sub(r"-\d+\.wav$", "", name) for name in row["mixed_from"].split())
    return found


def test_a_folder_per_class_set_mixes_with_no_recording_on_both_sides(tmp_path):
    root = instrument_notes(tmp_path / "notes")
    out = tmp_path / "mix"
    args = ["simulate", "mix", "--root", str(root), "--out", str(out), "--group-pattern", r"^(\w+?)-"]
    sizes = ["--train-mixtures", "16", "--test-mixtures", "8", "--max-sources", "3", "--seconds", "0.5"]
    result = runner.invoke(app, [*args, *sizes, "--min-gain-db", "-6", "--max-gain-db", "-3"])
    assert result.exit_code == 0, result.output
    assert "24 source clips of 12 recordings" in result.output
    split = recordings_by_split(out / "mixtures.csv")
    assert split["train"]
    assert split["test"]
    assert split["train"].isdisjoint(split["test"])
    manifest = load_dataset("csv", {"table": str(out / "mixtures.csv"), "classes": str(out / "classes.txt")})
    counts = manifest.labels.positive.sum(axis=1)
    assert counts.min() >= 2
    assert counts.max() <= 3
    assert manifest.labels.class_names == tuple(sorted(CLASSES))


def test_a_prepared_directory_mixes_too(tmp_path):
    root = instrument_notes(tmp_path / "notes", recordings=2, takes=1)
    prepared = tmp_path / "prepared"
    done = runner.invoke(
        app,
        [
            "prepare",
            "folder",
            "--root",
            str(root),
            "--out",
            str(prepared),
            "--frontend-set",
            "n_mels=8",
            "--quiet",
        ],
    )
    assert done.exit_code == 0, done.output
    out = tmp_path / "mix"
    result = runner.invoke(
        app,
        [
            "simulate",
            "mix",
            "--prepared",
            str(prepared),
            "--out",
            str(out),
            "--train-mixtures",
            "4",
            "--test-mixtures",
            "2",
            "--max-sources",
            "2",
            "--seconds",
            "0.5",
            "--test-share",
            "0.5",
        ],
    )
    assert result.exit_code == 0, result.output
    split = recordings_by_split(out / "mixtures.csv")
    assert split["train"].isdisjoint(split["test"])
    assert len(mixture_rows(out / "mixtures.csv")) == 6


def test_sources_are_the_single_label_clips_and_can_be_limited(tmp_path):
    labels = Labels.from_lists(
        ["a-1", "a-2", "b-1", "ab-1", "none-1"], [["a"], ["a"], ["b"], ["a", "b"], []], ["a", "b"]
    )
    paths = [tmp_path / f"{c}.wav" for c in labels.clip_ids]
    sources = sources_from_labels(labels, paths, group_pattern=r"^(\w+)-")
    assert [(s.class_name, s.recording) for s in sources] == [("a", "a"), ("a", "a"), ("b", "b")]
    assert [s.recording for s in sources_from_labels(labels, paths)] == ["a-1", "a-2", "b-1"]
    limited = limit_per_class(sources, 1, seed=0)
    assert sorted(s.class_name for s in limited) == ["a", "b"]
    with pytest.raises(ValueError, match="per_class must be at least 1"):
        limit_per_class(sources, 0, seed=0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give the data to mix: --root"),
        (["--root", "x", "--prepared", "y"], "give the data to mix"),
        (
            ["--root", "x", "--group-pattern", "(unclosed"],
            "--group-pattern is not a valid regular expression",
        ),
        (
            ["--root", "x", "--min-gain-db", "0", "--max-gain-db", "-6"],
            "--min-gain-db 0.0 exceeds --max-gain-db",
        ),
        (["--root", "x", "--sources-per-class", "0"], "--sources-per-class must be >= 1"),
    ],
)
def test_bad_mix_options_are_refused(tmp_path, extra, message):
    result = runner.invoke(app, ["simulate", "mix", "--out", str(tmp_path / "mix"), *extra])
    assert isinstance(result.exception, ConfigError), result.output
    assert message in str(result.exception)
