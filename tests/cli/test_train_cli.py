from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earmark.cli import app
from earmark.config import ConfigError
from earmark.features.audio import AudioError
from earmark.testing import write_broken_files, write_tone
from earmark.testing.prepared import make_prepared

runner = CliRunner()
TINY = [
    "model=cnn",
    "model_options={channels: [8, 16], width_multiplier: 1.0}",
    "segment_frames=16",
    "batch_size=8",
    "epochs=1",
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return make_prepared(tmp_path_factory.mktemp("cli") / "prepared", num_clips=30)


@pytest.fixture(scope="module")
def run(prepared, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    result = runner.invoke(
        app, ["train", "--run-dir", str(run_dir), f"data.prepared={prepared}", "data.test_folds=[3]", *TINY]
    )
    assert result.exit_code == 0, result.output
    assert "test:" in result.output
    return run_dir


def test_train_writes_a_run(run):
    summary = json.loads((run / "summary.json").read_text())
    assert summary["clips"] == {"train": 20, "test": 10}
    assert (run / "report" / "report.html").exists()


def test_train_rejects_unknown_keys_and_resumes(run, prepared):
    bad = runner.invoke(app, ["train", "--run-dir", str(run), f"data.prepared={prepared}", "epochz=3"])
    assert isinstance(bad.exception, ConfigError)
    assert "unknown config key epochz" in str(bad.exception)
    again = runner.invoke(
        app,
        [
            "train",
            "--run-dir",
            str(run),
            "--resume",
            f"data.prepared={prepared}",
            "data.test_folds=[3]",
            *TINY,
        ],
    )
    assert again.exit_code == 0, again.output


def test_cv_over_three_folds(prepared, tmp_path):
    result = runner.invoke(app, ["cv", "--run-dir", str(tmp_path / "cv"), f"data.prepared={prepared}", *TINY])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "cv" / "cv_summary.json").read_text())
    assert sorted(summary["folds"]) == ["1", "2", "3"]
    assert "over 3 folds" in result.output
    # --folds picks the held-out folds; each still trains on every other fold
    one = runner.invoke(
        app, ["cv", "--run-dir", str(tmp_path / "cv1"), "--folds", "1", f"data.prepared={prepared}", *TINY]
    )
    assert one.exit_code == 0, one.output
    assert sorted(json.loads((tmp_path / "cv1" / "cv_summary.json").read_text())["folds"]) == ["1"]
    written = (tmp_path / "cv1" / "fold-1" / "config.yaml").read_text()
    assert "train_folds:\n  - 2\n  - 3" in written or "train_folds: [2, 3]" in written
    absent = runner.invoke(
        app, ["cv", "--run-dir", str(tmp_path / "cv7"), "--folds", "7", f"data.prepared={prepared}"]
    )
    assert "asked [7], present [1, 2, 3]" in str(absent.exception)


def test_cv_with_folds_side_by_side(prepared, tmp_path):
    result = runner.invoke(
        app, ["cv", "--jobs", "2", "--run-dir", str(tmp_path / "cv"), f"data.prepared={prepared}", *TINY]
    )
    assert result.exit_code == 0, result.output
    assert "training 2 folds at a time" in result.output
    assert "over 3 folds" in result.output
    assert sorted(json.loads((tmp_path / "cv" / "cv_summary.json").read_text())["folds"]) == ["1", "2", "3"]
    refused = runner.invoke(app, ["cv", "--jobs", "2", "--tune", f"data.prepared={prepared}"])
    assert refused.exit_code != 0
    assert "--tune runs one fold at a time" in " ".join(refused.output.replace("│", " ").split())


def test_predict_tags_files_and_reports_bad_ones(run, tmp_path):
    for i, hz in enumerate((300.0, 900.0)):
        write_tone(tmp_path / "audio" / f"tone{i}.wav", frequency_hz=hz, duration_seconds=2.5)
    out = tmp_path / "tags.csv"
    result = runner.invoke(
        app, ["predict", str(tmp_path / "audio"), "--run", str(run), "--top-k", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = out.read_text().splitlines()
    assert rows[0] == "path,rank,tag,score"
    assert len(rows) == 1 + 2 * 2
    as_json = tmp_path / "tags.json"
    assert (
        runner.invoke(
            app, ["predict", str(tmp_path / "audio"), "--run", str(run), "--out", str(as_json)]
        ).exit_code
        == 0
    )
    assert len(json.loads(as_json.read_text())) == 2
    broken = write_broken_files(tmp_path / "broken")["corrupt"]
    failed = runner.invoke(app, ["predict", str(broken), "--run", str(run)])
    assert isinstance(failed.exception, AudioError)
    assert "corrupt.wav" in str(failed.exception)
    skipped = runner.invoke(
        app,
        [
            "predict",
            str(broken),
            str(tmp_path / "audio" / "tone0.wav"),
            "--run",
            str(run),
            "--on-error",
            "skip",
        ],
    )
    assert skipped.exit_code == 0, skipped.output
    assert "skipped" in skipped.output
    wrong = runner.invoke(app, ["predict", str(broken), "--run", str(run), "--out", "tags.txt"])
    assert ".csv or .json" in str(wrong.exception)
    missing_run = runner.invoke(app, ["predict", str(broken), "--run", str(tmp_path / "nothing")])
    assert "not a training run" in str(missing_run.exception)
