from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from earmark.cli import app
from earmark.config import from_dict, load_yaml
from earmark.data.table import read_labels
from earmark.predictions import Predictions
from earmark.testing.prepared import make_prepared
from earmark.training.config import TrainConfig
from earmark.tuning import TrainingObjective, recipe_from_dict, tune

optuna = pytest.importorskip("optuna")

runner = CliRunner()
TEST_FOLD = 4
GROUPS = r"^(clip\d{3})"  # ten consecutive clips form a group, across folds


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return make_prepared(tmp_path_factory.mktemp("tune") / "prepared", num_clips=40, folds=4)


def _recipe(prepared: Path, **tune) -> dict:
    return {
        "data": {"prepared": str(prepared), "test_folds": [TEST_FOLD], "valid_fraction": 0.25},
        "model": "cnn",
        "model_options": {"channels": [8, 16]},
        "segment_frames": 16,
        "batch_size": 8,
        "epochs": 1,
        "metric": "lwlrap",
        "tune": {
            "trials": 2,
            "group_pattern": GROUPS,
            "space": {
                "optim.lr": {"low": 1.0e-3, "high": 1.0e-2, "log": True},
                "epochs": {"low": 1, "high": 2},
            },
            **tune,
        },
    }


@pytest.fixture(scope="module")
def search(prepared, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("search")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(_recipe(prepared)))
    result = runner.invoke(
        app, ["tune", "--config", str(folder / "recipe.yaml"), "--run-dir", str(folder / "run")]
    )
    assert result.exit_code == 0, result.output
    assert "best trials" in result.output
    return folder


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "trials.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_trials_table_lists_every_finished_trial(search):
    rows = _rows(search / "run")
    assert [row["number"] for row in rows] == ["0", "1"]
    for row in rows:
        assert row["state"] == "complete"
        assert 0.0 <= float(row["value"]) <= 1.0
        assert 1.0e-3 <= float(row["optim.lr"]) <= 1.0e-2
        assert int(row["steps"]) > 0
    summary = json.loads((search / "run" / "summary.json").read_text())
    best = max(rows, key=lambda row: float(row["value"]))
    assert summary["best"]["value"] == pytest.approx(float(best["value"]))
    assert (search / "run" / "search.png").read_bytes().startswith(b"\x89PNG")


def test_trials_never_see_the_test_fold_and_hold_out_whole_groups(search, prepared):
    labels = read_labels(prepared / "labels.csv")
    test_clips = set(labels.select(folds=[TEST_FOLD]).clip_ids)
    group = {clip: re.match(GROUPS, clip).group(1) for clip in labels.clip_ids}
    for trial in ("0", "1"):
        run = search / "run" / "trials" / trial
        config = load_yaml(run / "config.yaml")
        assert config["data"]["test_folds"] == []
        assert TEST_FOLD not in config["data"]["train_folds"]
        summary = json.loads((run / "summary.json").read_text())
        assert "test" not in summary
        assert summary["clips"]["train"] + summary["clips"]["valid"] == labels.num_clips - len(test_clips)
        valid = set(Predictions.read(run / "predictions" / "valid.npz").clip_ids.tolist())
        assert not valid & test_clips
        held_groups = {group[c] for c in valid}
        searched = {c for c in labels.clip_ids if c not in test_clips}
        assert {c for c in searched if group[c] in held_groups} == valid


def test_best_yaml_restores_the_test_fold_and_trains(search, tmp_path):
    best = from_dict(TrainConfig, load_yaml(search / "run" / "best.yaml"))
    rows = _rows(search / "run")
    winner = max(rows, key=lambda row: float(row["value"]))
    assert best.data.test_folds == (TEST_FOLD,)
    assert best.optim.lr == pytest.approx(float(winner["optim.lr"]))
    assert best.epochs == int(winner["epochs"])
    result = runner.invoke(
        app, ["train", "--config", str(search / "run" / "best.yaml"), "--run-dir", str(tmp_path / "final")]
    )
    assert result.exit_code == 0, result.output
    assert "test:" in result.output


def test_a_rerun_with_more_trials_continues_the_search(search):
    run = search / "run"
    before = {n: (run / "trials" / n / "summary.json").stat().st_mtime_ns for n in ("0", "1")}
    arguments = ["tune", "--config", str(search / "recipe.yaml"), "--run-dir", str(run), "--trials", "3"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert [row["number"] for row in _rows(run)] == ["0", "1", "2"]
    assert {n: (run / "trials" / n / "summary.json").stat().st_mtime_ns for n in ("0", "1")} == before


def test_tune_refuses_a_recipe_without_validation(prepared, tmp_path):
    recipe = _recipe(prepared)
    del recipe["data"]["valid_fraction"]
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = runner.invoke(
        app, ["tune", "--config", str(tmp_path / "recipe.yaml"), "--run-dir", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "no validation data" in str(result.exception)


def test_inner_cross_validation_trains_one_run_per_inner_fold(prepared, tmp_path):
    data = {"prepared": str(prepared), "test_folds": [TEST_FOLD]}
    recipe = recipe_from_dict({**_recipe(prepared, trials=1, inner_folds=2), "data": data})
    result = tune(recipe, tmp_path / "run")
    assert result.summary["finished"] == 1
    trial = tmp_path / "run" / "trials" / "0"
    assert sorted(p.name for p in trial.iterdir()) == ["fold-1", "fold-2"]
    inner = read_labels(tmp_path / "run" / "inner-folds.csv")
    labels = read_labels(prepared / "labels.csv")
    assert set(inner.clip_ids) == set(labels.select(exclude_folds=[TEST_FOLD]).clip_ids)
    values = [
        json.loads((trial / f / "summary.json").read_text())["valid"]["lwlrap"] for f in ("fold-1", "fold-2")
    ]
    assert result.rows[0].value == pytest.approx(sum(values) / 2)


class PruningContext:
    """A trial context that asks to stop at the second validation."""

    number = 0

    def __init__(self) -> None:
        self.reports: list[tuple[int, float]] = []
        self.notes: dict[str, object] = {}

    def report(self, step: int, value: float) -> None:
        self.reports.append((step, value))
        if len(self.reports) == 2:
            raise optuna.TrialPruned("stop")

    def note(self, name: str, value: object) -> None:
        self.notes[name] = value


def test_the_training_objective_reports_each_validation_and_stops_when_pruned(prepared, tmp_path):
    recipe = recipe_from_dict(_recipe(prepared, trials=1))
    labels = read_labels(prepared / "labels.csv")
    objective = TrainingObjective(recipe, tmp_path, labels)
    context = PruningContext()
    with pytest.raises(optuna.TrialPruned):
        objective({"optim.lr": 1.0e-3, "epochs": 6}, context)
    assert [step for step, _ in context.reports] == [1, 2]  # one report per validation (epoch)
    run = tmp_path / "trials" / "0"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    validations = [row for row in rows if row["split"] == "valid"]
    assert [row["lwlrap"] for row in validations] == [value for _, value in context.reports]
    assert context.notes["steps"] == validations[-1]["step"]  # stopped at the second validation
    assert not (run / "summary.json").exists()


def test_a_share_held_out_for_the_search_only(prepared, tmp_path):
    """tune.valid_fraction: trials validate on the held-out share; best.yaml trains on all clips."""
    recipe = _recipe(prepared, valid_fraction=0.25, trials=1)
    del recipe["data"]["valid_fraction"]
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = runner.invoke(
        app, ["tune", "--config", str(tmp_path / "recipe.yaml"), "--run-dir", str(tmp_path / "run")]
    )
    assert result.exit_code == 0, result.output
    assert "tune.valid_fraction 0.25" in " ".join(result.output.split())
    summary = json.loads((tmp_path / "run" / "trials" / "0" / "summary.json").read_text())
    assert summary["clips"]["valid"] > 0
    best = from_dict(TrainConfig, load_yaml(tmp_path / "run" / "best.yaml"))
    assert best.data.valid_fraction == 0.0
    assert best.data.test_folds == (TEST_FOLD,)


def test_a_search_with_two_jobs_runs_trials_in_two_processes(prepared, tmp_path, capfd):
    from earmark.tuning.study import PROCESS_NOTE

    folder = tmp_path / "jobs"
    folder.mkdir()
    space = {"optim.lr": {"low": 1.0e-3, "high": 1.0e-2, "log": True}, "epochs": {"low": 300, "high": 320}}
    # trials of ~10 s each: the second process (a few seconds to start) gets some of them
    (folder / "recipe.yaml").write_text(yaml.safe_dump(_recipe(prepared, trials=4, space=space)))
    result = runner.invoke(
        app,
        ["tune", "--jobs", "2", "--config", str(folder / "recipe.yaml"), "--run-dir", str(folder / "run")],
    )
    assert result.exit_code == 0, result.output
    assert [row["state"] for row in _rows(folder / "run")] == ["complete"] * 4
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{folder / 'run' / 'study.db'}")
    processes = {trial.user_attrs[PROCESS_NOTE] for trial in study.trials}
    assert len(processes) == 2  # this process and the one it started each ran trials
    summary = json.loads((folder / "run" / "summary.json").read_text())
    assert summary["finished"] == 4
    # the helper is as quiet as the command: Optuna's own per-trial lines stay off its stderr
    assert "finished with value" not in capfd.readouterr().err


def test_jobs_on_a_gpu_are_refused(prepared, tmp_path):
    recipe = recipe_from_dict({**_recipe(prepared), "device": "cuda"})
    with pytest.raises(ValueError, match="is a GPU"):
        tune(recipe, tmp_path / "run", jobs=2)
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        tune(recipe_from_dict(_recipe(prepared)), tmp_path / "run", jobs=0)
