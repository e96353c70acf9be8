"""``earmark audit noisy``: the ranking by hand, then out-of-fold audits of small runs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from earmark.audit import (
    class_thresholds,
    clip_suspicion,
    confident_flags,
    junk_scores,
    label_suspicion,
    read_audit,
    suspected_noisy,
)
from earmark.cli import app
from earmark.config import from_dict
from earmark.data.edits import apply_edits, read_edits
from earmark.data.labels import Labels
from earmark.data.table import read_labels, write_labels
from earmark.metrics.curves import average_precision_per_class
from earmark.testing.prepared import make_prepared
from earmark.training.config import TrainConfig
from earmark.training.crossval import cross_validate
from earmark.training.trainer import Trainer


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models train fastest on one thread (two threads contend on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _labels(positive) -> Labels:
    positive = np.array(positive, dtype=bool)
    n = len(positive)
    return Labels(
        clip_ids=np.array([f"c{i}" for i in range(n)], dtype=object),
        class_names=("a", "b", "c"),
        positive=positive,
        annotated=np.ones_like(positive),
        source=np.array(["noisy"] * n, dtype=object),
        fold=np.ones(n, dtype=np.int64),
        duration_seconds=np.ones(n),
    )


POSITIVE = [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 0, 1]]
SCORES = np.array(
    [
        [0.8, 0.1, 0.1],  # agrees
        [0.1, 0.1, 0.9],  # labeled a, the model hears c: suspect
        [0.1, 0.6, 0.2],  # agrees
        [0.02, 0.01, 0.05],  # nothing believable: junk
        [0.7, 0.05, 0.3],  # a agrees, b is doubtful
        [0.1, 0.1, 0.85],  # agrees
    ]
)
THRESHOLDS = np.array([1.6 / 3, 0.325, 0.45])  # a: clips 0, 1, 4; b: clips 2, 4; c: clips 3, 5
PLAIN = {"prior_clips": 0}  # the hand-made figures use the plain class means


def test_class_thresholds_are_mean_scores_of_the_labeled_clips_shrunk_to_the_overall_mean():
    np.testing.assert_allclose(class_thresholds(POSITIVE, SCORES, **PLAIN), THRESHOLDS)
    overall = np.sum(SCORES * np.array(POSITIVE)) / 7  # 7 positive entries
    counts = np.array([3, 2, 2])
    shrunk = (THRESHOLDS * counts + 5 * overall) / (counts + 5)
    np.testing.assert_allclose(class_thresholds(POSITIVE, SCORES), shrunk)
    empty = class_thresholds([[1, 0], [1, 0]], [[0.4, 0.1], [0.6, 0.2]], **PLAIN)
    np.testing.assert_allclose(empty, [0.5, 0.5])  # b has no labeled clip: the overall mean
    with pytest.raises(ValueError, match="prior_clips must be >= 0"):
        class_thresholds(POSITIVE, SCORES, prior_clips=-1)


def test_a_class_with_few_low_scored_clips_does_not_swamp_the_others():
    # class b has one labeled clip, scored 0.001: its plain threshold would make every clip's
    # small b score look a hundred times more believable than a well-scored label
    positive = np.array([[1, 0]] * 6 + [[0, 1]])
    scores = np.array([[0.8, 0.05]] * 6 + [[0.3, 0.001]])
    assert (clip_suspicion(positive, scores, **PLAIN)[:6] > 0).all()
    assert (clip_suspicion(positive, scores)[:6] < 0).all()


def test_label_suspicion_by_hand():
    q = SCORES / THRESHOLDS
    calibrated = label_suspicion(POSITIVE, SCORES, **PLAIN)
    assert np.isnan(calibrated[0, 1])  # only positives are audited
    np.testing.assert_allclose(calibrated[1, 0], np.log(q[1, 2] + 1e-6) - np.log(q[1, 0] + 1e-6))
    np.testing.assert_allclose(calibrated[4, 1], np.log(q[4, 0] + 1e-6) - np.log(q[4, 1] + 1e-6))
    assert calibrated[0, 0] < 0 < calibrated[1, 0]
    margin = label_suspicion(POSITIVE, SCORES, method="margin")
    np.testing.assert_allclose(margin[1, 0], 0.9 - 0.1)
    np.testing.assert_allclose(margin[0, 0], 0.1 - 0.8)
    np.testing.assert_allclose(label_suspicion(POSITIVE, SCORES, method="self_confidence")[2, 1], 0.4)
    with pytest.raises(ValueError, match="unknown method 'loss'; valid methods: calibrated_margin"):
        label_suspicion(POSITIVE, SCORES, method="loss")  # type: ignore[arg-type]


def test_the_audit_lists_wrong_positives_and_junk_most_suspicious_first():
    labels = _labels(POSITIVE)
    junk = -np.log(0.05 / THRESHOLDS[2] + 1e-6)  # clip 3's best class is c, at a ninth of c's level
    np.testing.assert_allclose(junk_scores(POSITIVE, SCORES, **PLAIN)[3], junk)
    items = suspected_noisy(labels, SCORES, **PLAIN)
    assert [(i.clip, i.class_name, i.suggestion) for i in items] == [
        ("c1", "a", "remove"),
        ("c3", "", "blacklist"),
        ("c4", "b", "remove"),
    ]
    assert items[0].score > items[1].score > items[2].score > 0
    assert items[1].score == pytest.approx(junk)
    assert (items[0].class_rank, items[2].class_rank, items[1].class_rank) == (1, 1, None)
    assert items[0].model_score == pytest.approx(0.1)
    assert items[0].top.startswith("c=0.900")
    suspicion = clip_suspicion(labels.positive, SCORES, **PLAIN)
    assert suspicion.argsort()[::-1][:3].tolist() == [1, 3, 4]
    # a stricter junk rule: clip 3 is no longer junk, and its label c is the best it has
    assert [i.clip for i in suspected_noisy(labels, SCORES, junk_below=0.1, **PLAIN)] == ["c1", "c4"]
    assert [i.clip for i in suspected_noisy(labels, SCORES, junk_below=0.0, **PLAIN)] == ["c1", "c4"]
    assert len(suspected_noisy(labels, SCORES, limit=1)) == 1
    assert [i.suggestion for i in suspected_noisy(labels, SCORES, min_score=100.0, **PLAIN)] == ["blacklist"]


def test_confident_flags_need_another_class_at_its_own_level():
    # c1: label a far below a's level, c at 2x its level -> flagged; c4: b below its level and a
    # above its own -> flagged; c3 is junk -> flagged; the others agree with their labels
    assert confident_flags(POSITIVE, SCORES, **PLAIN).tolist() == [False, True, False, True, True, False]
    assert confident_flags(POSITIVE, SCORES, junk_below=0.0, **PLAIN).tolist() == [
        False,
        True,
        False,
        False,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("scores", "options", "message"),
    [
        (SCORES[:3], {}, r"scores \(3, 3\) and labels \(6, 3\) must be one"),
        (np.where(SCORES > 0.85, np.nan, SCORES), {}, "NaN or infinite"),
        (SCORES, {"junk_below": 1.0}, r"junk_below must be in \[0, 1\)"),
    ],
)
def test_bad_input(scores, options, message):
    with pytest.raises(ValueError, match=message):
        suspected_noisy(_labels(POSITIVE), scores, **options)


# ------------------------------------------------------------------ out-of-fold audits of real runs
FLIPPED = ["clip0003", "clip0011", "clip0020", "clip0032", "clip0041", "clip0055"]


def _config(prepared, labels, **changes):
    data = {
        "data": {"prepared": str(prepared), "labels": str(labels)},
        "model": "cnn",
        "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
        "segment_frames": 16,
        "batch_size": 8,
        "epochs": 12,
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "seed": 1,
        "report": False,
        **changes,
    }
    return from_dict(TrainConfig, data)


@pytest.fixture(scope="module")
def noisy_data(tmp_path_factory):
    """60 single-label synthetic clips, 6 of them with a wrong label."""
    root = tmp_path_factory.mktemp("audit_noisy")
    prepared = make_prepared(root / "prepared", max_positives=1, num_classes=3)
    labels = read_labels(prepared / "labels.csv")
    positive = labels.positive.copy()
    for clip in FLIPPED:
        row = labels.clip_ids.tolist().index(clip)
        positive[row] = np.roll(positive[row], 1)
    noisy = dataclasses.replace(labels, positive=positive, source=np.array(["noisy"] * 60, dtype=object))
    write_labels(noisy, root / "noisy.csv")
    return prepared, root / "noisy.csv", root


def _average_precision(items, clips):
    order = {item.clip: -rank for rank, item in enumerate(items)}
    scores = np.array([[order.get(c, -1000.0)] for c in clips])
    truth = np.array([[c in FLIPPED] for c in clips])
    return float(average_precision_per_class(truth, scores).values[0])


def test_audit_of_a_training_run_finds_the_flipped_labels(noisy_data, tmp_path):
    prepared, labels, _ = noisy_data
    run = tmp_path / "run"
    Trainer(_config(prepared, labels), run).fit()
    result = CliRunner().invoke(app, ["audit", "noisy", "--run", str(run), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert (run / "audit_noisy" / "round-1" / "fold-3" / "predictions" / "test.npz").exists()
    items = read_audit(run / "audit_noisy.csv")
    assert {i.suggestion for i in items} <= {"remove", "blacklist"}
    clips = read_labels(labels).clip_ids.tolist()
    assert _average_precision(items, clips) > 0.8  # chance is 0.1
    assert not (run / "audit_noisy" / "blacklist.csv").exists()  # no rounds: nothing blacklisted


def test_audit_of_a_cross_validation_trains_nothing_and_rounds_blacklist(noisy_data, tmp_path):
    prepared, labels, _ = noisy_data
    cv = tmp_path / "cv"
    cross_validate(_config(prepared, labels), cv)
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "noisy", "--run", str(cv), "--out", str(tmp_path / "a.csv")])
    assert result.exit_code == 0, result.output
    assert not (cv / "audit_noisy").exists()  # the folds' test predictions are out of fold already
    clips = read_labels(labels).clip_ids.tolist()
    assert _average_precision(read_audit(tmp_path / "a.csv"), clips) > 0.8
    assert result.stdout.startswith("estimated share of labels wrong: ")
    summary = json.loads((tmp_path / "a.json").read_text())
    estimate = summary["noise_rate"]
    print(f"noise rate: true {len(FLIPPED) / 60:.3f}, estimated {estimate}")
    assert (summary["scores"], summary["clips"], estimate["method"]) == ("out_of_fold", 60, "confident_joint")
    assert estimate["low"] <= len(FLIPPED) / 60 <= estimate["high"]
    assert [r["round"] for r in summary["rounds"]] == [1]
    result = runner.invoke(
        app,
        ["audit", "noisy", "--run", str(cv), "--rounds", "2", "--flag-top", "3", "--folds", "3"],
    )
    assert result.exit_code == 0, result.output
    assert "round 2: 57 clips scored out of fold, 3 flagged and blacklisted" in result.output
    edits = read_edits(cv / "audit_noisy" / "blacklist.csv")
    assert len(edits) == 6
    assert {e.action for e in edits} == {"blacklist"}
    assert len(set(FLIPPED) & {e.clip for e in edits}) >= 4
    edited, report = apply_edits(read_labels(labels), edits)
    assert edited.num_clips == 54
    assert report.actions["blacklist"] == 6


def test_bad_audit_options(noisy_data, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "noisy", "--run", str(tmp_path)])
    assert isinstance(result.exception, FileNotFoundError)
    assert "is neither a training run" in str(result.exception)
    result = runner.invoke(app, ["audit", "noisy", "--run", str(tmp_path), "--method", "loss"])
    assert "--method must be one of calibrated_margin" in str(result.exception)
    result = runner.invoke(app, ["audit", "noisy", "--run", str(tmp_path), "--flag-top", "ten"])
    assert "--flag-top must be a count" in str(result.exception)
