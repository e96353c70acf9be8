"""Pipelines on synthetic data: every stage kind, resume, --from / --only, and bad input."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from earmark.cli import app
from earmark.config import ConfigError
from earmark.data.edits import LabelEdit, apply_edits, read_edits, write_edits
from earmark.data.table import read_labels, write_labels
from earmark.pipeline import PipelineError, load_recipe, recipe_from_dict, run_pipeline
from earmark.testing.prepared import make_prepared

TRAIN = {
    "model": "cnn",
    "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
    "segment_frames": 16,
    "batch_size": 8,
    "epochs": 3,
    "optim": {"lr": 0.003, "warmup_steps": 2},
    "data": {"test_folds": [3]},
    "report": False,
}
STAGES = [
    {"name": "warmup_set", "kind": "select", "per_class": 8, "by": "random"},
    {
        "name": "stage0",
        "kind": "train",
        "labels_from": "warmup_set",
        "train": {"data": {"train_sources": ["noisy"]}, "sampler": "balanced"},
    },
    {
        "name": "stage1",
        "kind": "train",
        "init_from": "stage0",
        "train": {"data": {"train_sources": ["curated"]}},
    },
    {"name": "filter", "kind": "filter", "model_from": "stage1", "rule": "top_k", "k": 1},
    {
        "name": "stage2",
        "kind": "train",
        "labels_from": "filter",
        "init_from": "stage1",
        "train": {
            "strategy": "consistency",
            "strategy_options": {"weight": 1.0},
            "sampler": "labeled_unlabeled",
            "labeled_per_batch": 6,
            "epochs": 2,
        },
    },
]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """90 single-label clips, 3 classes: fold 3 tests; of folds 1-2, 4 per class curated, the rest
    noisy with every fourth label moved to another class."""
    root = tmp_path_factory.mktemp("pipeline")
    prepared = make_prepared(root / "prepared", num_clips=90, num_classes=3, max_positives=1)
    labels = read_labels(prepared / "labels.csv")
    source = np.array(["curated"] * 90, dtype=object)
    positive = labels.positive.copy()
    training = np.flatnonzero(labels.fold != 3)
    curated = [r for c in range(3) for r in training[labels.positive[training, c]][:4]]
    noisy = [r for r in training if r not in curated]
    source[noisy] = "noisy"
    for r in noisy[::4]:
        positive[r] = np.roll(positive[r], 1)
    table = dataclasses.replace(labels, positive=positive, source=source)
    write_labels(table, root / "study.csv")
    return prepared, root / "study.csv", [str(labels.clip_ids[r]) for r in noisy[::4]]


def recipe(study, tmp_path, stages=None, **top):
    prepared, labels, _ = study
    data = {
        "prepared": str(prepared),
        "labels": str(labels),
        "out": str(tmp_path / "out"),
        "train": TRAIN,
        "stages": copy.deepcopy(stages if stages is not None else STAGES),
        **top,
    }
    return recipe_from_dict(data, source="test.yaml")


class Events:
    def __init__(self):
        self.seen = []

    def __call__(self, event, stage, info):
        self.seen.append((event, stage.name))

    def of(self, event):
        return [name for e, name in self.seen if e == event]


def test_the_pipeline_runs_every_stage_and_a_second_run_skips_them(study, tmp_path):
    events = Events()
    results = run_pipeline(recipe(study, tmp_path), on_event=events)
    assert events.of("done") == ["warmup_set", "stage0", "stage1", "filter", "stage2"]
    assert all(r["status"] == "done" for r in results.values())
    out = tmp_path / "out"
    for name in ("stage0", "stage1", "stage2"):
        assert (out / name / "checkpoints" / "last.pt").exists()
        assert (out / name / "predictions" / "test.npz").exists()
    assert "init_from" in (out / "stage2" / "config.yaml").read_text()
    selected = read_labels(out / "warmup_set" / "labels.csv")
    assert (selected.source == "noisy").sum() == 24  # 8 per class
    filtered = read_labels(out / "filter" / "labels.csv")
    summary = json.loads((out / "filter" / "filter.json").read_text())
    assert (filtered.source == "unlabeled").sum() == summary["rejected"]
    assert summary["kept"] + summary["rejected"] == summary["scored"] == 48
    assert not filtered.annotated[filtered.source == "unlabeled"].any()
    stamp = (out / "stage0" / "checkpoints" / "last.pt").stat().st_mtime_ns
    again = Events()
    run_pipeline(recipe(study, tmp_path), on_event=again)
    assert again.of("skip") == ["warmup_set", "stage0", "stage1", "filter", "stage2"]
    assert again.of("start") == []
    assert (out / "stage0" / "checkpoints" / "last.pt").stat().st_mtime_ns == stamp
    # --from runs a stage and every later one again; --only one stage alone
    events = Events()
    run_pipeline(recipe(study, tmp_path), start="filter", on_event=events)
    assert (events.of("skip"), events.of("done")) == (
        ["warmup_set", "stage0", "stage1"],
        ["filter", "stage2"],
    )
    events = Events()
    run_pipeline(recipe(study, tmp_path), only="stage1", on_event=events)
    assert (events.of("skip"), events.of("done")) == ([], ["stage1"])
    # stage1 ran again: what was built on it (filter, stage2) is stale and runs again
    events = Events()
    run_pipeline(recipe(study, tmp_path), on_event=events)
    assert (events.of("skip"), events.of("done")) == (
        ["warmup_set", "stage0", "stage1"],
        ["filter", "stage2"],
    )
    # a changed stage runs again; the others are kept
    changed = copy.deepcopy(STAGES)
    changed[4]["train"]["epochs"] = 1
    events = Events()
    run_pipeline(recipe(study, tmp_path, changed), on_event=events)
    assert events.of("done") == ["stage2"]
    # a changed early stage: every stage built on it, directly or not, runs again
    changed[1]["train"]["epochs"] = 2
    events = Events()
    run_pipeline(recipe(study, tmp_path, changed), on_event=events)
    assert (events.of("skip"), events.of("done")) == (
        ["warmup_set"],
        ["stage0", "stage1", "filter", "stage2"],
    )
    # an interrupted training stage resumes in its directory instead of starting over
    status_path = out / "stage2" / "stage.json"
    status = json.loads(status_path.read_text())
    status_path.write_text(json.dumps({**status, "status": "running"}))
    (out / "stage2" / "kept.txt").write_text("resume, do not clear")
    run_pipeline(recipe(study, tmp_path, changed))
    assert (out / "stage2" / "kept.txt").exists()
    assert json.loads(status_path.read_text())["status"] == "done"


def test_stage_edits_round_trip(study, tmp_path):
    _, labels_path, _ = study
    before = read_labels(labels_path)
    other = dataclasses.replace(before, positive=np.roll(before.positive, 1, axis=1))
    write_labels(other, tmp_path / "other.csv")
    stages = [
        {"name": "take", "kind": "relabel", "take": {"table": str(tmp_path / "other.csv"), "folds": [1]}},
        {"name": "replay", "kind": "relabel", "edits_from": ["take"]},
    ]
    results = run_pipeline(recipe(study, tmp_path, stages))
    out = tmp_path / "out"
    taken = read_labels(out / "take" / "labels.csv")
    assert results["take"]["summary"]["take"] == {"taken": 30, "kept": 0, "unmatched": 0}
    edits = read_edits(out / "take" / "edits.csv")
    assert sorted({e.action for e in edits}) == ["add", "remove"]
    assert len(edits) == 60  # each fold-1 clip: one label removed, one added
    assert all(e.who == "earmark pipeline, stage take" for e in edits)
    write_edits(tmp_path / "copy.csv", edits)
    assert read_edits(tmp_path / "copy.csv") == edits
    replayed, _ = apply_edits(before, edits)
    assert np.array_equal(replayed.positive, taken.positive)
    assert np.array_equal(read_labels(out / "replay" / "labels.csv").positive, taken.positive)


def test_out_of_fold_blacklisting_rounds_remove_the_moved_labels(study, tmp_path):
    _, _, moved = study
    stages = [
        {
            "name": "clean",
            "kind": "filter",
            "out_of_fold": {"folds": 3, "train": {"epochs": 6}},
            "rule": "rank",
            "flag_top": 4,
            "rejected": "blacklist",
            "rounds": 2,
        },
        {"name": "final", "kind": "train", "labels_from": "clean"},
    ]
    run_pipeline(recipe(study, tmp_path, stages))
    out = tmp_path / "out" / "clean"
    edits = read_edits(out / "edits.csv")
    blacklisted = [e.clip for e in edits if e.action == "blacklist"]
    assert len(blacklisted) == 8  # 4 per round
    assert len(set(blacklisted) & set(moved)) >= 6  # of the 12 moved labels, most are found first
    assert not set(blacklisted) & set(read_labels(out / "labels.csv").clip_ids.tolist())
    for round_number in (1, 2):
        assert (out / "oof" / f"round-{round_number}" / "audit.csv").exists()
        assert (out / "oof" / f"round-{round_number}" / "fold-3" / "summary.json").exists()


# ------------------------------------------------------------------ bad input
def write_recipe(tmp_path, study, stages):
    prepared, labels, _ = study
    path = tmp_path / "recipe.yaml"
    data = {"prepared": str(prepared), "labels": str(labels), "out": str(tmp_path / "out"), "train": TRAIN}
    path.write_text(
        yaml.safe_dump(data, sort_keys=False) + yaml.safe_dump({"stages": stages}, sort_keys=False)
    )
    return path


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (
            [{"name": "a", "kind": "train", "init_from": "nope"}],
            r"stage 'a' \(.*recipe\.yaml, line \d+\): init_from refers to unknown stage 'nope'",
        ),
        (
            [{"name": "a", "kind": "train", "labels_from": "b"}, {"name": "b", "kind": "select"}],
            r"stage 'a' .*labels_from refers to stage 'b', which comes later in the recipe",
        ),
        (
            [{"name": "a", "kind": "select"}, {"name": "b", "kind": "train", "init_from": "a"}],
            r"stage 'b' .*init_from refers to stage 'a', a select stage; it must name a train stage",
        ),
        ([{"name": "a", "kind": "select"}, {"name": "a", "kind": "select"}], "is used by an earlier stage"),
        (
            [{"name": "a", "kind": "bake"}],
            r"unknown kind 'bake'; valid kinds: train, select, filter, relabel",
        ),
        ([{"name": "a", "kind": "select", "per_clas": 3}], r"unknown config key stages\.a\.per_clas"),
        ([{"name": "a", "kind": "filter", "rule": "top_k"}], "exactly one of model_from .* and out_of_fold"),
        ([{"name": "a", "kind": "relabel"}], "a relabel stage needs take, split, edits or edits_from"),
        ([{"name": "a", "kind": "train", "train": {"epochs": 0}}], r"stage 'a' .*epochs must be positive"),
    ],
)
def test_bad_recipes_name_the_stage_file_and_line(study, tmp_path, stages, message):
    path = write_recipe(tmp_path, study, stages)
    with pytest.raises(ConfigError, match=message):
        load_recipe(path)


def test_the_line_is_the_stage_line(study, tmp_path):
    path = write_recipe(
        tmp_path, study, [{"name": "a", "kind": "select"}, {"name": "b", "kind": "train", "init_from": "x"}]
    )
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "name: b" in text)
    with pytest.raises(ConfigError, match=rf"recipe\.yaml, line {line}\)"):
        load_recipe(path)
    with pytest.raises(ConfigError, match=r"unknown key 'stage'; valid keys"):
        recipe_from_dict({"prepared": "p", "stage": []})
    with pytest.raises(ConfigError, match="'stages' must be a non-empty list"):
        recipe_from_dict({"prepared": "p", "stages": []})
    with pytest.raises(ConfigError, match=r"no stage 'nope'; the stages are a"):
        run_pipeline(
            recipe_from_dict({"prepared": "p", "stages": [{"name": "a", "kind": "select"}]}), start="nope"
        )
    with pytest.raises(ConfigError, match=r"override 'stages\.zzz\.k=1' names no stage key"):
        recipe_from_dict(
            {"prepared": "p", "stages": [{"name": "a", "kind": "select"}]}, overrides=["stages.zzz.k=1"]
        )


def test_a_filter_that_keeps_nothing_and_a_stage_after_a_failed_one(study, tmp_path):
    stages = [
        {"name": "stage1", "kind": "train", "train": {"data": {"train_sources": ["curated"]}, "epochs": 1}},
        {"name": "filter", "kind": "filter", "model_from": "stage1", "rule": "threshold", "threshold": 1.0},
        {"name": "stage2", "kind": "train", "labels_from": "filter"},
    ]
    with pytest.raises(
        PipelineError, match=r"stage 'filter' \(test\.yaml, line 2\): the filter keeps none of the 48 clips"
    ):
        run_pipeline(recipe(study, tmp_path, stages))
    assert json.loads((tmp_path / "out" / "filter" / "stage.json").read_text())["status"] == "failed"
    with pytest.raises(
        PipelineError,
        match=r"stage 'stage2' \(test\.yaml, line 3\): labels_from refers to stage 'filter', which failed",
    ):
        run_pipeline(recipe(study, tmp_path, stages), only="stage2")


def test_a_curated_set_missing_a_class(study, tmp_path):
    _, labels_path, _ = study
    labels = read_labels(labels_path)
    without = labels.take(~((labels.source == "curated") & labels.positive[:, 2] & (labels.fold != 3)))
    write_labels(without, tmp_path / "without.csv")
    stages = [{"name": "stage1", "kind": "train", "train": {"data": {"train_sources": ["curated"]}}}]
    with pytest.raises(
        PipelineError, match=r"stage 'stage1' .*curated clips .* have no positive for class 'class2'"
    ):
        run_pipeline(recipe(study, tmp_path, stages, labels=str(tmp_path / "without.csv")))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            LabelEdit("clip9999", "class0", "remove"),
            r"bad\.csv, line 2: remove edit names unknown clip 'clip9999'",
        ),
        (
            LabelEdit("clip0000", "class7", "add"),
            r"bad\.csv, line 2: add edit of clip 'clip0000' names unknown class 'class7'",
        ),
    ],
)
def test_edits_naming_unknown_clips_or_classes(study, tmp_path, edit, message):
    write_edits(tmp_path / "bad.csv", [edit])
    stages = [{"name": "fix", "kind": "relabel", "edits": [str(tmp_path / "bad.csv")]}]
    with pytest.raises(PipelineError, match=rf"stage 'fix' \(test\.yaml, line 1\): .*{message}"):
        run_pipeline(recipe(study, tmp_path, stages))


def test_the_pipeline_command(study, tmp_path):
    path = write_recipe(tmp_path, study, [{"name": "pick", "kind": "select", "per_class": 2}])
    result = CliRunner().invoke(app, ["pipeline", str(path), "--set", "stages.pick.per_class=3"])
    assert result.exit_code == 0, result.output
    assert "pick" in result.output
    assert "selected 9 of 48" in result.output
    result = CliRunner().invoke(app, ["pipeline", str(path), "--set", "stages.pick.per_class=3"])
    assert "done earlier, skipped" in result.output


def test_a_threshold_filter_that_blacklists_and_a_selection_by_score(study, tmp_path):
    stages = [
        {"name": "stage1", "kind": "train", "train": {"data": {"train_sources": ["curated"]}, "epochs": 2}},
        {
            "name": "filter",
            "kind": "filter",
            "model_from": "stage1",
            "rule": "threshold",
            "quantile": 0.25,
            "rejected": "blacklist",
        },
        {
            "name": "pick",
            "kind": "select",
            "labels_from": "filter",
            "by": "score",
            "model_from": "stage1",
            "per_class": 3,
        },
    ]
    results = run_pipeline(recipe(study, tmp_path, stages))
    out = tmp_path / "out"
    summary = results["filter"]["summary"]
    assert summary["kept"] >= 0.75 * 48  # each class keeps the labels at or above its own 25 % quantile
    blacklisted = [e.clip for e in read_edits(out / "filter" / "edits.csv") if e.action == "blacklist"]
    assert len(blacklisted) == summary["rejected"] > 0
    filtered = read_labels(out / "filter" / "labels.csv")
    assert filtered.num_clips == 90 - len(blacklisted)
    assert not set(blacklisted) & set(filtered.clip_ids.tolist())
    assert results["pick"]["summary"]["selected"] == 9


def test_bad_relabel_input_names_the_stage(study, tmp_path):
    _, labels_path, _ = study
    labels = read_labels(labels_path)
    write_labels(labels.with_classes([*labels.class_names, "zzz"]), tmp_path / "wider.csv")
    take = [{"name": "take", "kind": "relabel", "take": {"table": str(tmp_path / "wider.csv")}}]
    with pytest.raises(
        PipelineError, match=r"stage 'take' \(test\.yaml, line 1\): take: class 'zzz' of .*wider\.csv"
    ):
        run_pipeline(recipe(study, tmp_path, take))
    split = [{"name": "split", "kind": "relabel", "split": {"sources": ["unlabeled"]}}]
    with pytest.raises(
        PipelineError, match=r"stage 'split' .*split: 0 clips of sources \['unlabeled'\] cannot fill 3"
    ):
        run_pipeline(recipe(study, tmp_path, split))
