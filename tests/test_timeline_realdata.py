"""Timelines and events on real audio: ESC-10 clips of known classes, joined into one file, are
found near where they were placed (``earmark predict --timeline --events``).

A small attention-MIL model over 1 s log-mel segments is trained here on four ESC-10 classes
(folds 1-4, seconds of CPU); the joined file is made of fold-5 clips it never saw, each after a
second of silence.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

import earmark
from earmark.cli import app
from earmark.features.audio import load_audio
from earmark.testing import require_data

CLASSES = ("004 - Baby cry", "009 - Rooster", "007 - Helicopter", "010 - Fire crackling")
SILENCE_SECONDS = 1.0
RATE = 16000


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    esc10 = require_data("esc10/audio")
    work = tmp_path_factory.mktemp("timeline")
    subset = work / "subset"
    subset.mkdir()
    for name in CLASSES:
        (subset / name).symlink_to((esc10 / name).resolve(), target_is_directory=True)
    earmark.prepare("folder", work / "prepared", options={"root": str(subset), "fold_pattern": r"^(\d+)-"})
    recipe = {
        "data": {"prepared": str(work / "prepared"), "test_folds": [5]},
        "model": "attention_mil",
        "model_options": {"hidden_layers": 2, "hidden_units": 96, "dropout": 0.2},
        "segment_seconds": 1.0,
        "hop_seconds": 0.5,
        "batch_size": 32,
        "epochs": 12,
        "metric": "accuracy",
        "report": False,
        "optim": {"name": "adam", "lr": 0.003},
    }
    earmark.train(recipe, work / "run")
    return work


@pytest.fixture(scope="module")
def joined(trained) -> tuple[Path, list[tuple[str, float, float]]]:
    """One file of a fold-5 clip per class, each after a second of silence; what is where."""
    esc10 = require_data("esc10/audio")
    pieces, placed, position = [], [], 0.0
    for name in CLASSES:
        clip = sorted((esc10 / name).glob("5-*.flac"))[1]
        samples, _ = load_audio(clip, RATE)
        pieces += [np.zeros(int(SILENCE_SECONDS * RATE), dtype=np.float32), samples]
        position += SILENCE_SECONDS
        placed.append((name.split(" - ")[1], position, position + len(samples) / RATE))
        position += len(samples) / RATE
    path = trained / "joined.flac"
    soundfile.write(path, np.concatenate(pieces), RATE)
    return path, placed


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_timeline_and_events_find_each_class_where_it_was_placed(trained, joined, tmp_path):
    audio, placed = joined
    timeline_csv, events_csv = tmp_path / "timeline.csv", tmp_path / "events.csv"
    result = CliRunner().invoke(
        app,
        [
            "predict", str(audio), "--run", str(trained / "run"), "--timeline", str(timeline_csv),
            "--events", str(events_csv), "--threshold", "0.4", "--min-duration", "1.0", "--min-gap", "1.0",
            "--plot", str(tmp_path / "timeline.png"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "timeline.png").stat().st_size > 0
    # the timeline: over each placed clip, its class has the highest mean segment score
    by_segment: dict[tuple[float, float], dict[str, float]] = defaultdict(dict)
    for row in read_rows(timeline_csv):
        by_segment[float(row["start_seconds"]), float(row["end_seconds"])][row["class"]] = float(row["score"])
    for label, start, end in placed:
        inside = [scores for (s, e), scores in by_segment.items() if start <= (s + e) / 2 <= end]
        means = {name: np.mean([scores[name] for scores in inside]) for name in inside[0]}
        assert max(means, key=means.__getitem__) == label, (label, means)
    # the events: each placed class has an event overlapping its clip, starting within a second
    # and a half of it and not running on past it
    events = [
        (r["class"], float(r["onset_seconds"]), float(r["offset_seconds"])) for r in read_rows(events_csv)
    ]
    for label, start, end in placed:
        own = [
            (onset, offset)
            for name, onset, offset in events
            if name == label and onset < end and offset > start
        ]
        assert own, (label, start, end, events)
        assert min(onset for onset, _ in own) == pytest.approx(start, abs=1.5), (label, own)
        assert max(offset for _, offset in own) <= end + 1.5, (label, own)
        # and no other class's events cover half of this clip
        for other in {name for name, _, _ in events} - {label}:
            spans = [(onset, offset) for name, onset, offset in events if name == other]
            covered = sum(max(0.0, min(offset, end) - max(onset, start)) for onset, offset in spans)
            assert covered < (end - start) / 2, (label, other, covered, events)
