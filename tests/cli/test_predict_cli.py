"""``earmark predict``: several runs averaged, thresholds, timelines, events and the plot."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import earmark
from earmark.cli import app
from earmark.config import ConfigError
from earmark.testing import write_tone
from earmark.testing.prepared import make_prepared
from earmark.testing.recipes import tiny_recipe
from earmark.thresholds import Thresholds

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("predict")
    prepared = make_prepared(root / "prepared", num_clips=24)
    paths = {"root": root}
    for name, seed in (("a", 0), ("b", 1)):
        data = {"prepared": str(prepared), "test_folds": [3]}
        earmark.train(tiny_recipe(prepared, data=data, seed=seed), root / name)
        paths[name] = root / name
    for i, hz in enumerate((300.0, 1200.0)):
        write_tone(root / "audio" / f"tone{i}.wav", frequency_hz=hz, duration_seconds=2.2)
    paths["audio"] = root / "audio"
    return paths


def predict(*args: object) -> None:
    result = runner.invoke(app, ["predict", *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output


def scores_of(path: Path) -> dict[str, dict[str, float]]:
    return {row["path"]: {t["tag"]: t["score"] for t in row["tags"]} for row in json.loads(path.read_text())}


def test_several_runs_give_the_mean_of_their_scores(world, tmp_path):
    for name in ("a", "b"):
        predict(world["audio"], "--run", world[name], "--top-k", 4, "--out", tmp_path / f"{name}.json")
    predict(
        world["audio"], "--run", world["a"], "--run", world["b"], "--top-k", 4, "--out", tmp_path / "ab.json"
    )
    single_a, single_b, both = (scores_of(tmp_path / f"{n}.json") for n in ("a", "b", "ab"))
    for path, scores in both.items():
        for tag, score in scores.items():
            assert score == pytest.approx((single_a[path][tag] + single_b[path][tag]) / 2, abs=2e-6)
    cv = tmp_path / "cv"
    shutil.copytree(world["a"], cv / "fold-1")
    shutil.copytree(world["b"], cv / "fold-2")
    predict(world["audio"], "--run", cv, "--top-k", 4, "--out", tmp_path / "cv.json")
    for path, scores in scores_of(tmp_path / "cv.json").items():
        assert scores == pytest.approx(both[path], abs=1e-6)


def test_thresholds_mark_the_present_tags(world, tmp_path):
    out = tmp_path / "tags.csv"
    predict(world["audio"], "--run", world["a"], "--top-k", 4, "--out", out)
    assert out.read_text().splitlines()[0] == "path,rank,tag,score"  # no thresholds: as before
    run = tmp_path / "tuned"
    shutil.copytree(world["a"], run)
    Thresholds(("class0", "class1", "class2", "class3"), np.array([0.0, 1.0, 0.0, 1.0]), "valid").write(
        run / "thresholds.json"
    )
    predict(world["audio"], "--run", run, "--top-k", 4, "--out", out)
    rows = list(csv.DictReader(out.open()))
    assert {r["tag"] for r in rows if r["present"] == "1"} == {"class0", "class2"}
    predict(world["audio"], "--run", run, "--top-k", 4, "--threshold", 0.0, "--out", out)  # overrides
    assert all(r["present"] == "1" for r in csv.DictReader(out.open()))


def test_timeline_events_and_plot(world, tmp_path):
    tone = world["audio"] / "tone0.wav"
    timeline, events, plot = tmp_path / "t.csv", tmp_path / "e.csv", tmp_path / "t.png"
    predict(
        tone,
        "--run",
        world["a"],
        "--timeline",
        timeline,
        "--events",
        events,
        "--plot",
        plot,
        "--threshold",
        0,
    )
    rows = list(csv.DictReader(timeline.open()))
    starts = sorted({float(r["start_seconds"]) for r in rows})
    assert len(rows) == 4 * len(starts)
    assert starts[0] == 0.0
    assert max(float(r["end_seconds"]) for r in rows) == pytest.approx(2.2, abs=0.05)
    # threshold 0: every class is one event over the whole file
    found = list(csv.DictReader(events.open()))
    assert sorted(r["class"] for r in found) == ["class0", "class1", "class2", "class3"]
    assert all(float(r["onset_seconds"]) == 0.0 for r in found)
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_bad_predict_options_are_named(world, tmp_path):
    with pytest.raises(ConfigError, match="one file's timeline; 2 files"):
        predict(world["audio"], "--run", world["a"], "--plot", tmp_path / "p.png")
    with pytest.raises(ConfigError, match=r"--threshold must be in \[0, 1\]"):
        predict(world["audio"], "--run", world["a"], "--threshold", 2)
    with pytest.raises(ConfigError, match=r"must end in \.csv"):
        predict(world["audio"], "--run", world["a"], "--events", tmp_path / "e.txt")
    with pytest.raises(ConfigError, match="--min-gap must be"):
        predict(world["audio"], "--run", world["a"], "--min-gap", -1)
