"""The filter stage records every change it makes in its edits.csv (issue 15): replaying the file on
the stage's input labels gives its output labels exactly, one edit per changed entry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from earmark.data.edits import apply_edits, read_edits
from earmark.data.labels import Labels
from earmark.data.table import read_labels, write_labels
from earmark.pipeline import recipe_from_dict, run_pipeline
from earmark.testing.prepared import make_prepared

TRAIN = {
    "model": "cnn",
    "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
    "segment_frames": 16,
    "batch_size": 8,
    "epochs": 2,
    "optim": {"lr": 0.003, "warmup_steps": 2},
    "data": {"test_folds": [3], "train_sources": ["curated"]},
    "report": False,
}
FILTERS = {
    "top1": {"rule": "top_k", "k": 1},
    "top1_whole": {"rule": "top_k", "k": 1, "reduce_labels": False},
    "median": {"rule": "threshold", "quantile": 0.5, "rejected": "blacklist"},
    "ranked": {"rule": "rank", "flag_top": 6},
}


def changed_entries(before: Labels, after: Labels) -> int:
    """What the stage changed, counted from the tables alone: a clip that left, a clip made
    unlabeled, and each clip × class entry of a labeled clip whose positive or annotated changed."""
    row = {clip: i for i, clip in enumerate(after.clip_ids.tolist())}
    count = 0
    for i, clip in enumerate(before.clip_ids.tolist()):
        if clip not in row:
            count += 1
        elif after.source[row[clip]] != before.source[i]:
            assert after.source[row[clip]] == "unlabeled"
            count += 1
        else:
            j = row[clip]
            changed = (before.positive[i] != after.positive[j]) | (before.annotated[i] != after.annotated[j])
            count += int(changed.sum())
    return count


@pytest.fixture(scope="module")
def filtered(tmp_path_factory):
    """One pipeline: a model trained on the curated clips, then one filter stage per rule."""
    root = tmp_path_factory.mktemp("filter_edits")
    prepared = make_prepared(root / "prepared", num_clips=72, num_classes=3, max_positives=2, seed=3)
    labels = read_labels(prepared / "labels.csv")
    training = np.flatnonzero(labels.fold != 3)
    curated = [r for c in range(3) for r in training[labels.positive[training, c]][:4]]
    source = np.where(np.isin(np.arange(labels.num_clips), curated), "curated", "noisy").astype(object)
    source[labels.fold == 3] = "curated"
    write_labels(dataclasses.replace(labels, source=source), root / "study.csv")
    stages = [{"name": "stage1", "kind": "train"}] + [
        {"name": name, "kind": "filter", "model_from": "stage1", **options}
        for name, options in FILTERS.items()
    ]
    recipe = recipe_from_dict(
        {
            "prepared": str(prepared),
            "labels": str(root / "study.csv"),
            "out": str(root / "out"),
            "train": TRAIN,
            "stages": stages,
        },
        source="filter-edits.yaml",
    )
    results = run_pipeline(recipe)
    return read_labels(root / "study.csv"), root / "out", results


@pytest.mark.parametrize("name", list(FILTERS))
def test_replaying_the_edits_on_the_input_gives_the_output(filtered, name):
    before, out, _ = filtered
    after = read_labels(out / name / "labels.csv")
    edits = read_edits(out / name / "edits.csv")
    replayed, report = apply_edits(before, edits)
    assert replayed.equals(after)
    assert len(edits) == changed_entries(before, after) > 0
    assert report.unknown == ()
    assert {edit.who for edit in edits} == {f"earmark pipeline, stage {name}"}
    assert all(edit.why and edit.time for edit in edits)


def test_each_rule_writes_the_edits_of_its_kind_with_its_reason(filtered):
    before, out, results = filtered
    edits = {name: read_edits(out / name / "edits.csv") for name in FILTERS}
    summaries = {name: results[name]["summary"] for name in FILTERS}
    top1 = edits["top1"]
    unlabeled = [e for e in top1 if e.action == "unlabel"]
    removed = [e for e in top1 if e.action == "remove"]
    assert len(unlabeled) == summaries["top1"]["rejected"] > 0
    assert len(removed) == summaries["top1"]["labels_removed"] > 0
    assert len(unlabeled) + len(removed) == len(top1)
    assert {e.why for e in unlabeled} == {"no label in stage1's top 1"}
    assert {e.why for e in removed} == {"not in stage1's top 1"}
    assert all(e.class_name == "" for e in unlabeled)
    # without reduce_labels, no label of a kept clip is dropped: only whole clips change
    assert {e.action for e in edits["top1_whole"]} == {"unlabel"}
    assert len(edits["top1_whole"]) == summaries["top1_whole"]["rejected"]
    blacklisted = [e for e in edits["median"] if e.action == "blacklist"]
    assert len(blacklisted) == summaries["median"]["rejected"] > 0
    assert {e.why for e in blacklisted} == {
        "no label reaches its class's threshold in stage1's scores (quantile 0.5)"
    }
    dropped = [e for e in edits["median"] if e.action == "remove"]
    assert len(dropped) == summaries["median"]["labels_removed"] > 0
    assert all(e.why.startswith("stage1's score ") and e.why.endswith(" (quantile 0.5)") for e in dropped)
    assert {e.action for e in edits["ranked"]} == {"unlabel"}
    assert len(edits["ranked"]) == summaries["ranked"]["rejected"] == 6
    assert {e.why for e in edits["ranked"]} == {
        "flagged as noisy in round 1 by the calibrated_margin audit of stage1"
    }
    assert not {e.clip for e in edits["ranked"]} & set(before.clip_ids[before.source == "curated"].tolist())
