"""``earmark study``: arms × seeds × folds trained, resumed after a kill, compared and reported."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from earmark.config import ConfigError
from earmark.data.simulate import drop_labels
from earmark.data.table import read_labels, write_labels
from earmark.errors import EarmarkError
from earmark.study import (
    collect,
    estimate_label_quality,
    load_study,
    plan_cell,
    run_study,
    study_from_dict,
    write_report,
)
from earmark.study.plan import Cell, cells, merge_arm, stages_needed
from earmark.testing.prepared import make_prepared

TINY = {
    "model": "cnn",
    "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
    "segment_frames": 16,
    "batch_size": 8,
    "epochs": 1,
    "checkpoint_every": 3,
    "report": False,
    "device": "cpu",
    "num_workers": 0,
}
ARMS = [
    {"name": "B0", "train": {"strategy": "supervised", "strategy_options": {"missing": "negative"}}},
    {"name": "B1", "train": {"strategy": "supervised", "strategy_options": {"missing": "mask"}}},
    {
        "name": "LE",
        "train": {
            "strategy": "supervised",
            "strategy_options": {"missing": "mask", "enhance": {"teacher_run": "{run:B0}", "percent": 10.0}},
        },
    },
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A prepared directory, and per seed its labels with 40 % of the train/valid entries dropped."""
    root = tmp_path_factory.mktemp("study")
    prepared = make_prepared(root / "prepared", num_clips=48)
    full = read_labels(prepared / "labels.csv")
    for seed in (0, 1):
        degraded = drop_labels(full, rate=0.4, mode="explicit", seed=seed, clips=full.fold != 3)
        write_labels(degraded, root / "drops" / f"s{seed}" / "labels.csv")
    return root, prepared


def _study(root: Path, prepared: Path, **changes) -> dict:
    train = {
        **TINY,
        "data": {"prepared": str(prepared), "train_folds": [1], "valid_folds": [2], "test_folds": [3]},
    }
    return {
        "train": train,
        "labels": str(root / "drops" / "s{seed}" / "labels.csv"),
        "seeds": [0, 1],
        "metric": "ap_macro",
        "metrics": ["lwlrap"],
        "baseline": "B1",
        "arms": ARMS,
        "resamples": 200,
        **changes,
    }


def test_a_study_trains_every_arm_and_seed_and_compares_with_the_baseline(world, tmp_path):
    root, prepared = world
    study = study_from_dict(_study(root, prepared, estimate="missing"))
    runs = run_study(study, tmp_path / "out")
    assert [(r.arm.name, r.cell.seed) for r in runs] == [
        ("B0", 0), ("B1", 0), ("LE", 0), ("B0", 1), ("B1", 1), ("LE", 1),
    ]  # fmt: skip
    # LE's teacher is B0 of the same seed
    le = runs[2].config
    assert le is not None
    assert le.strategy_options["enhance"]["teacher_run"] == str(runs[0].run_dir)
    results = collect(study, tmp_path / "out")
    assert results.num_test_clips == 16  # fold 3 of 48 clips
    b1 = results.arm("B1")
    assert b1.comparison is None
    assert len(b1.values["ap_macro"]) == 2
    for name in ("B0", "LE"):
        comparison = results.arm(name).comparison
        assert comparison is not None
        assert comparison["low"] <= comparison["difference"] <= comparison["high"]
        assert comparison["seeds"] == [0, 1]
    # the table's values are the metric of each run's own test predictions against the truth
    summary = json.loads((runs[0].run_dir / "summary.json").read_text())
    assert results.arm("B0").values["ap_macro"][0] == pytest.approx(summary["test"]["ap_macro"], abs=1e-9)
    assert all(c is not None and c > 0 for c in b1.cpu_seconds)
    assert all(s and s > 0 for s in b1.steps)
    quality = estimate_label_quality(study, tmp_path / "out", resamples=50)
    assert quality is not None
    assert set(quality.per_seed) == {0, 1}
    estimate = quality.per_seed[0]
    assert estimate["method"] == "calibrated"  # explicit labels: calibrated on annotated entries
    assert estimate["n"] == 16  # B1's validation fold
    assert 0.0 <= estimate["low"] <= estimate["rate"] <= estimate["high"] <= 1.0
    written = write_report(results, tmp_path / "out", quality=quality)
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.splitlines()[2].startswith(("**use ", "**keep the baseline B1"))
    assert report.splitlines()[4].startswith(
        "Estimated share of true positives missing from the training labels: seed 0:"
    )
    assert "| LE | 2 |" in report
    assert "[" in report
    assert json.loads((tmp_path / "out" / "results.json").read_text())["baseline"] == "B1"
    assert written[0].name == "report.md"


def test_the_recommendation_says_when_nothing_beats_the_baseline(world, tmp_path):
    root, prepared = world
    # B1 against itself under another name: the same runs' scores, a zero difference; references
    # (B1 and B0 on the true labels) are compared but never recommended, even where they beat the
    # baseline; the share column is of the first one's gain
    truth = {"data": {"labels": str(prepared / "labels.csv")}}
    arms = [
        ARMS[1],
        {"name": "B1_again", "train": ARMS[1]["train"]},
        {"name": "truth", "train": {**ARMS[1]["train"], **truth}, "reference": True},
        {"name": "truth_b0", "train": {**ARMS[0]["train"], **truth}, "reference": True},
    ]
    study = study_from_dict(_study(root, prepared, arms=arms, seeds=[0]))
    run_study(study, tmp_path / "out")
    results = collect(study, tmp_path / "out")
    comparison = results.arm("B1_again").comparison
    assert comparison is not None
    assert comparison["difference"] == pytest.approx(0.0, abs=1e-12)
    from earmark.study import markdown, recommendation

    assert recommendation(results).startswith("keep the baseline B1: no remedy beats it on ap_macro")
    assert "closest: B1_again" in recommendation(results)
    assert results.arm("truth").comparison is not None
    table = markdown(results)
    assert "share of the reference's Δ" in table
    assert "| truth | 1 |" in table
    assert "reference" in table.split("| truth | 1 |")[1].splitlines()[0]
    assert "reference" in table.split("| truth_b0 | 1 |")[1].splitlines()[0]


def test_cross_validated_cells_pool_every_fold_once(world, tmp_path):
    root, prepared = world
    train = {**TINY, "data": {"prepared": str(prepared)}}
    study = study_from_dict(
        _study(
            root, prepared, train=train, labels=None, folds=[1, 2, 3], seeds=[0], arms=ARMS[:2], baseline="B0"
        )
    )
    planned = plan_cell(study, Cell(0, 2), tmp_path / "out")
    data = planned[0].config.data  # type: ignore[union-attr]
    assert (data.train_folds, data.valid_folds, data.test_folds) == ((1,), (3,), (2,))
    partial = dataclasses.replace(study, held_out=(2,))
    assert [(c.seed, c.fold) for c in cells(partial)] == [(0, 2)]  # fold 2 tested, folds 1 and 3 train
    run_study(study, tmp_path / "out")
    results = collect(study, tmp_path / "out")
    assert results.num_test_clips == 48
    assert results.arm("B1").steps[0] is not None


def test_a_pipeline_arm_scores_its_stage_and_the_pipeline_runs_once(world, tmp_path):
    root, prepared = world
    recipe = tmp_path / "two_stages.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "prepared": str(prepared),
                "train": {},
                "stages": [
                    {"name": "first", "kind": "train"},
                    {"name": "unused", "kind": "train"},
                    {
                        "name": "second",
                        "kind": "train",
                        "init_from": "first",
                        "train": {"optim": {"lr": 3e-4}},
                    },
                ],
            }
        )
    )
    arms = [
        {"name": "first", "pipeline": str(recipe), "stage": "first"},
        {"name": "second", "pipeline": str(recipe), "stage": "second"},
    ]
    study = study_from_dict(_study(root, prepared, arms=arms, baseline="first", seeds=[0]))
    events: list[tuple[str, str]] = []
    run_study(study, tmp_path / "out", on_event=lambda what, run: events.append((what, run.arm.name)))
    assert events == [("start", "first"), ("done", "first"), ("reused", "second")]
    cell = next((tmp_path / "out" / "pipelines").iterdir()) / "s0"
    assert (cell / "second" / "predictions" / "test.npz").is_file()
    assert not (cell / "unused").exists()  # no arm scores or uses it: not trained
    results = collect(study, tmp_path / "out")
    assert results.arm("second").comparison is not None
    first_cpu = json.loads((cell / "first" / "cpu.json").read_text())["cpu_seconds"]
    second_cpu = json.loads((cell / "second" / "cpu.json").read_text())["cpu_seconds"]
    assert results.arm("first").cpu_seconds == [pytest.approx(first_cpu)]
    assert results.arm("second").cpu_seconds == [
        pytest.approx(first_cpu + second_cpu)
    ]  # it starts from first


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"baseline": "B9"}, "baseline 'B9' is not an arm"),
        ({"arms": [ARMS[0], ARMS[0]]}, "repeated: B0"),
        ({"arms": [ARMS[2], ARMS[0], ARMS[1]]}, r"refers to \{run:B0\}, which is not an earlier arm"),
        ({"metric": "accuracy_top9"}, "unknown metric 'accuracy_top9'"),
        ({"seeds": []}, "seeds must be a non-empty list"),
        ({"colour": "red"}, "unknown config key colour"),
        ({"arms": [{"name": "a b"}, ARMS[1]]}, "arm name 'a b'"),
        ({"arms": [{"name": "p", "pipeline": "x.yaml"}, ARMS[1]]}, "give pipeline and stage together"),
        ({"resamples": 5}, "resamples must be >= 100"),
        ({"folds": [1]}, "at least two for valid: next"),
        ({"folds": [1, 2], "held_out": [3]}, r"held_out folds \[3\] are not among"),
        ({"arms": [{**ARMS[0], "reference": True}, ARMS[1]], "baseline": "B0"}, "cannot be a reference"),
    ],
)
def test_a_bad_study_file_is_refused_naming_the_fault(world, change, message):
    root, prepared = world
    with pytest.raises(ConfigError, match=message):
        study_from_dict(_study(root, prepared, **change))


def test_an_arm_with_a_bad_training_key_fails_before_any_training(world, tmp_path):
    root, prepared = world
    arms = [ARMS[1], {"name": "bad", "train": {"strategy_options": {"missing": "perhaps"}}}]
    study = study_from_dict(_study(root, prepared, arms=arms, seeds=[0]))
    with pytest.raises(ConfigError, match=r"arm bad: .*missing"):
        run_study(study, tmp_path / "out")
    assert not (tmp_path / "out" / "runs").exists()


def test_a_killed_study_reruns_to_the_same_report_and_redoes_nothing_finished(world, tmp_path):
    root, prepared = world
    data = _study(root, prepared, arms=ARMS[:2], baseline="B0")
    data["train"] = {**data["train"], "epochs": 6}
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(data))
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "earmark", "study", str(study_file), "--out", str(killed)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    first = killed / "runs" / "B0" / "s0" / "summary.json"
    second = killed / "runs" / "B1" / "s0" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 240
    while not second.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # mid-run: the second run has a checkpoint, no summary
    process.wait()
    assert first.exists(), "the first run should have finished before the kill"
    finished_at = first.stat().st_mtime_ns
    rerun = subprocess.run(command, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "B0 s0: finished before: reused" in rerun.stderr
    assert first.stat().st_mtime_ns == finished_at  # not trained again
    uninterrupted = tmp_path / "uninterrupted"
    study = load_study(study_file)
    run_study(study, uninterrupted)
    a = json.loads((killed / "results.json").read_text())
    b = collect(study, uninterrupted).as_dict()
    for arm_a, arm_b in zip(a["arms"], b["arms"], strict=True):
        for metric, values in arm_b["values"].items():
            assert arm_a["values"][metric] == pytest.approx(values, abs=1e-6)
    assert np.isclose(a["arms"][1]["comparison"]["difference"], b["arms"][1]["comparison"]["difference"])


def test_an_arm_naming_a_strategy_starts_from_its_own_options():
    base = {
        "strategy": "mean_teacher",
        "strategy_options": {"alpha": 0.99},
        "optim": {"lr": 1e-3, "name": "adam"},
    }
    arm = {"strategy": "supervised", "strategy_options": {"missing": "mask"}, "optim": {"lr": 3e-4}}
    merged = merge_arm(base, arm)
    assert merged["strategy_options"] == {"missing": "mask"}  # no alpha left for supervised
    assert merged["optim"] == {"lr": 3e-4, "name": "adam"}  # other mappings still merge
    assert merge_arm(base, {"optim": {"lr": 1.0}})["strategy_options"] == {"alpha": 0.99}


def test_positives_only_truth_scores_its_unlabeled_entries_as_negatives(world, tmp_path):
    root, prepared = world
    full = read_labels(prepared / "labels.csv")
    positives_only = tmp_path / "truth.csv"
    write_labels(dataclasses.replace(full, annotated=full.positive.copy()), positives_only)
    study = study_from_dict(_study(root, prepared, arms=ARMS[:2], seeds=[0], truth=str(positives_only)))
    run_study(study, tmp_path / "out")
    # every annotated entry is a positive: skipping the rest leaves no negative to rank against
    with pytest.raises(EarmarkError, match=r"undefined on the test split.*truth_missing: negative"):
        collect(study, tmp_path / "out")
    negative = dataclasses.replace(study, truth_missing="negative")
    direct = collect(study_from_dict(_study(root, prepared, arms=ARMS[:2], seeds=[0])), tmp_path / "out")
    assert (
        collect(negative, tmp_path / "out").arm("B1").values["ap_macro"]
        == direct.arm("B1").values["ap_macro"]
    )


def test_a_stage_reading_another_stages_file_keeps_it_in_the_pipeline(world, tmp_path):

    root, prepared = world
    recipe = tmp_path / "reads_a_file.yaml"
    stages = [
        {"name": "a", "kind": "train"},
        {"name": "unused", "kind": "train"},
        {"name": "r", "kind": "relabel", "take": {"table": "{pipeline}/a/table.csv"}},
        {"name": "c", "kind": "train", "labels_from": "r"},
    ]
    recipe.write_text(yaml.safe_dump({"prepared": str(prepared), "train": {}, "stages": stages}))
    arms = [
        {"name": "a", "pipeline": str(recipe), "stage": "a"},
        {"name": "c", "pipeline": str(recipe), "stage": "c"},
    ]
    study = study_from_dict(_study(root, prepared, arms=arms, baseline="a", seeds=[0]))
    run = plan_cell(study, Cell(0), tmp_path / "out")[1]
    assert run.recipe is not None
    assert run.pipeline_dir is not None
    assert run.recipe.stage("r").definition["take"]["table"] == f"{run.pipeline_dir}/a/table.csv"
    kept = stages_needed(run.recipe, {"c"}, run.pipeline_dir)
    assert [s.name for s in kept.stages] == ["a", "r", "c"]


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "recipes" / "studies").glob("*.yaml")))
def test_every_shipped_study_file_loads_and_plans(path, tmp_path):
    study = load_study(path)
    runs = plan_cell(study, Cell(study.seeds[0], study.folds[0] if study.folds else None), tmp_path)
    assert [r.arm.name for r in runs] == [a.name for a in study.arms]
    assert all(r.config is not None or r.recipe is not None for r in runs)
