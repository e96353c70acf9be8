"""``earmark cv --tune``: nested cross-validation, each outer fold searching on its own folds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from earmark.cli import app
from earmark.config import load_yaml
from earmark.data.table import read_labels

optuna = pytest.importorskip("optuna")

runner = CliRunner()
OUTER = (1, 2)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    from earmark.testing.prepared import make_prepared

    return make_prepared(tmp_path_factory.mktemp("nested") / "prepared", num_clips=36, folds=3)


def _recipe(prepared: Path, **tune) -> dict:
    return {
        "data": {"prepared": str(prepared)},
        "model": "cnn",
        "model_options": {"channels": [8, 16]},
        "segment_frames": 16,
        "batch_size": 8,
        "epochs": 1,
        "metric": "lwlrap",
        "tune": {
            "trials": 2,
            "inner_folds": 2,
            "pruner": "none",
            "space": {
                "optim.lr": {"choices": [0.0005, 0.02]},
                "model_options.dropout": {"choices": [0.0, 0.5]},
            },
            **tune,
        },
    }


def _cv(folder: Path, *extra: str):
    return runner.invoke(
        app,
        [
            "cv",
            "--tune",
            "--config",
            str(folder / "recipe.yaml"),
            "--run-dir",
            str(folder / "cv"),
            "--folds",
            "1,2",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def nested(prepared, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("nested-cv")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(_recipe(prepared)))
    result = _cv(folder)
    assert result.exit_code == 0, result.output
    assert "search chose" in result.output
    return folder


def test_each_outer_fold_searches_without_its_test_clips(nested, prepared):
    labels = read_labels(prepared / "labels.csv")
    for fold in OUTER:
        search = nested / "cv" / f"tune-fold-{fold}"
        inner = read_labels(search / "inner-folds.csv")
        held = set(labels.select(folds=[fold]).clip_ids.tolist())
        assert not held & set(inner.clip_ids.tolist())
        # every other clip takes part in the search, in one of the two inner folds
        assert len(inner.clip_ids) == labels.num_clips - len(held)
        assert set(inner.fold.tolist()) == {1, 2}
        for trial in (search / "trials").iterdir():
            for run in trial.glob("fold-*"):
                config = load_yaml(run / "config.yaml")
                assert config["data"]["test_folds"] == []


def test_each_fold_trains_its_own_search_winner_and_the_summary_says_so(nested):
    summary = json.loads((nested / "cv" / "cv_summary.json").read_text())
    assert sorted(summary["folds"]) == ["1", "2"]
    assert summary["tuned"]["metric"] == "lwlrap"
    for fold in OUTER:
        with (nested / "cv" / f"tune-fold-{fold}" / "trials.csv").open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row["state"] == "complete"]
        winner = max(rows, key=lambda row: (float(row["value"]), -int(row["number"])))
        chosen = summary["tuned"]["folds"][str(fold)]
        assert chosen["value"] == pytest.approx(float(winner["value"]))
        assert chosen["params"]["optim.lr"] == pytest.approx(float(winner["optim.lr"]))
        config = load_yaml(nested / "cv" / f"fold-{fold}" / "config.yaml")
        assert config["optim"]["lr"] == pytest.approx(chosen["params"]["optim.lr"])
        assert config["model_options"]["dropout"] == pytest.approx(chosen["params"]["model_options.dropout"])
        assert config["data"]["test_folds"] == [fold]
        assert fold not in config["data"]["train_folds"]
        assert summary["folds"][str(fold)]["lwlrap"] == pytest.approx(
            json.loads((nested / "cv" / f"fold-{fold}" / "summary.json").read_text())["test"]["lwlrap"]
        )


def test_a_rerun_resumes_without_new_trials_or_training(nested):
    before = {fold: (nested / "cv" / f"fold-{fold}" / "summary.json").stat().st_mtime_ns for fold in OUTER}
    result = _cv(nested)
    assert result.exit_code == 0, result.output
    assert "not trained again" in result.output
    for fold in OUTER:
        assert (nested / "cv" / f"fold-{fold}" / "summary.json").stat().st_mtime_ns == before[fold]
        with (nested / "cv" / f"tune-fold-{fold}" / "trials.csv").open(newline="") as handle:
            assert len(list(csv.DictReader(handle))) == 2


def test_a_search_validating_on_fixed_folds_is_refused(prepared, tmp_path):
    recipe = _recipe(prepared, inner_folds=0)
    recipe["data"]["valid_folds"] = [3]
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = _cv(tmp_path)
    assert result.exit_code != 0
    assert "inner_folds" in str(result.exception) + result.output


def test_trials_without_tune_is_refused(prepared, tmp_path):
    result = runner.invoke(
        app, ["cv", f"data.prepared={prepared}", "--trials", "2", "--run-dir", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "--tune" in result.output


def test_tune_without_a_recipe_or_without_a_tune_block_is_refused(prepared, tmp_path):
    result = runner.invoke(
        app, ["cv", "--tune", f"data.prepared={prepared}", "--run-dir", str(tmp_path / "a")]
    )
    assert result.exit_code != 0
    assert "--tune needs --config" in result.output
    recipe = _recipe(prepared)
    del recipe["tune"]
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = _cv(tmp_path)
    assert result.exit_code != 0
    assert "no tune: block" in str(result.exception) + result.output
