from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from earmark.audit import AuditItem, rank_within_class, read_audit, suspected_missing, write_audit
from earmark.cli import app
from earmark.config import from_dict
from earmark.data.labels import Labels
from earmark.data.table import read_labels, write_labels
from earmark.metrics.curves import average_precision_per_class
from earmark.testing.prepared import make_prepared
from earmark.training.config import TrainConfig
from earmark.training.crossval import cross_validate
from earmark.training.trainer import Trainer


def _labels(positive, annotated):
    n = len(positive)
    return Labels(
        clip_ids=np.array([f"c{i}" for i in range(n)], dtype=object),
        class_names=("a", "b"),
        positive=np.array(positive, dtype=bool),
        annotated=np.array(annotated, dtype=bool),
        source=np.array(["curated"] * n, dtype=object),
        fold=np.ones(n, dtype=np.int64),
        duration_seconds=np.ones(n),
    )


def test_rank_within_class_by_hand():
    scores = np.array([[0.1, 0.9], [0.5, 0.2], [0.5, 0.4]])
    eligible = np.array([[True, True], [True, False], [True, True]])
    assert rank_within_class(scores, eligible).tolist() == [[3, 1], [1, 0], [2, 2]]


def test_suspected_missing_orders_by_score_and_skips_known_entries():
    labels = _labels([[1, 0], [0, 0], [0, 0]], [[1, 1], [0, 0], [1, 0]])
    scores = np.array([[0.9, 0.8], [0.7, 0.95], [0.99, 0.3]])
    items = suspected_missing(labels, scores)
    # known entries (c0 both, c2 a) never appear; c2 b is missing
    assert [(i.clip, i.class_name) for i in items] == [("c1", "b"), ("c1", "a"), ("c2", "b")]
    assert [i.class_rank for i in items] == [1, 1, 2]
    assert items[0].top.startswith("b=0.950;a=0.700")
    assert [i.clip for i in suspected_missing(labels, scores, per_class=1)] == ["c1", "c1"]
    assert len(suspected_missing(labels, scores, limit=1)) == 1
    assert len(suspected_missing(labels, scores, min_score=0.75)) == 1
    with pytest.raises(ValueError, match="shape"):
        suspected_missing(labels, scores[:2])
    with pytest.raises(ValueError, match="NaN"):
        suspected_missing(labels, np.where(scores > 0.9, np.nan, scores))


def test_audit_table_round_trips(tmp_path):
    items = [
        AuditItem("c1", "dog <b>", "add", 0.9, 1, 0.9, "dog <b>=0.900"),
        AuditItem("c2", "", "blacklist", 0.5),
    ]
    path = write_audit(items, tmp_path / "audit.csv")
    assert read_audit(path) == items
    assert path.read_text().splitlines()[0] == "rank,clip,class,suggestion,score,class_rank,model_score,top"
    (tmp_path / "bad.csv").write_text("clip,class,suggestion,score\nc1,a,rename,0.1\n")
    with pytest.raises(ValueError, match="unknown suggestion 'rename'"):
        read_audit(tmp_path / "bad.csv")
    (tmp_path / "other.csv").write_text("clip,label\n")
    with pytest.raises(ValueError, match="not an audit table"):
        read_audit(tmp_path / "other.csv")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models train fastest on one thread (two threads contend on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """90 synthetic clips; 15 % of the positives hidden (missing), 30 % of the negatives unknown."""
    root = tmp_path_factory.mktemp("planted")
    prepared = make_prepared(root / "prepared", num_clips=90, seed=3)
    full = read_labels(prepared / "labels.csv")
    rng = np.random.default_rng(0)
    hidden = full.positive & (rng.random(full.positive.shape) < 0.15)
    unknown_negatives = ~full.positive & (rng.random(full.positive.shape) < 0.3)
    labels = full.with_matrices(
        annotated=full.annotated & ~hidden & ~unknown_negatives, positive=full.positive & ~hidden
    )
    write_labels(labels, root / "planted.csv")
    config = from_dict(
        TrainConfig,
        {
            "data": {"prepared": str(prepared), "labels": str(root / "planted.csv")},
            "model": "cnn",
            "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
            "strategy_options": {"missing": "mask"},
            "segment_frames": 16,
            "batch_size": 8,
            "epochs": 8,
            "optim": {"lr": 3e-3, "warmup_steps": 2},
        },
    )
    return labels, hidden, config


def _planted_ap(items, labels, hidden) -> tuple[float, np.ndarray]:
    rows = labels.clip_ids.tolist()
    is_hidden = np.array([hidden[rows.index(i.clip), labels.class_index(i.class_name)] for i in items])
    scores = -np.arange(len(items), dtype=float)  # the audit's order as a score
    return average_precision_per_class(is_hidden[:, None], scores[:, None]).macro, is_hidden


def test_the_audit_finds_planted_missing_labels(planted, tmp_path):
    """Positives hidden from a masked (B1) run come out at the top of its missing-label audit."""
    labels, hidden, config = planted
    Trainer(config, tmp_path / "run").fit()
    result = CliRunner().invoke(app, ["audit", "missing", "--run", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("estimated share of positives missing: ")
    assert "warning: these are the run's own training clips (in-fold scores)" in result.stderr
    items = read_audit(tmp_path / "run" / "audit_missing.csv")
    train = labels.select(folds=[1, 2, 3])
    assert len(items) == int(train.missing.sum())
    ap, is_hidden = _planted_ap(items, labels, hidden)
    assert is_hidden.sum() > 10
    chance = is_hidden.mean()
    print(f"planted {is_hidden.sum()} of {len(items)} missing entries; AP {ap:.3f}, chance {chance:.3f}")
    assert ap > 0.9, f"planted missing labels ranked with average precision {ap:.3f} (chance {chance:.3f})"
    summary = json.loads((tmp_path / "run" / "audit_missing.json").read_text())
    assert (summary["scores"], summary["clips"], summary["listed"]) == (
        "in_fold",
        train.num_clips,
        len(items),
    )
    assert summary["missing_rate"]["method"] == "calibrated"
    # --folds: the run's training clips scored by fold models trained with its config
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "missing",
            "--run",
            str(tmp_path / "run"),
            "--folds",
            "2",
            "--out",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "training fold model 2 of 2" in result.stderr
    assert "in-fold" not in result.output
    assert (tmp_path / "run" / "audit_missing" / "fold-2" / "predictions" / "test.npz").exists()
    summary = json.loads((tmp_path / "o.json").read_text())
    assert (summary["scores"], summary["clips"]) == ("out_of_fold", train.num_clips)
    ap, _ = _planted_ap(read_audit(tmp_path / "o.csv"), labels, hidden)
    assert ap > 0.8, f"out-of-fold audit of a training run: average precision {ap:.3f}"


def test_audit_missing_of_a_cross_validation_scores_each_clip_out_of_fold(planted, tmp_path):
    """Each clip scored by the fold model that did not train on it; nothing is trained again."""
    labels, hidden, config = planted
    cv = tmp_path / "cv"
    cross_validate(config, cv)
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "missing", "--run", str(cv), "--out", str(tmp_path / "a.csv")])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("estimated share of positives missing: "), first
    assert "in-fold" not in result.output
    assert not (cv / "audit_missing").exists()
    items = read_audit(tmp_path / "a.csv")
    assert len(items) == int(labels.missing.sum())  # every clip of the 3 folds
    ap, is_hidden = _planted_ap(items, labels, hidden)
    assert ap > 0.8, f"out-of-fold audit: average precision {ap:.3f} (chance {is_hidden.mean():.3f})"
    summary = json.loads((tmp_path / "a.json").read_text())
    estimate = summary["missing_rate"]
    truth = hidden.sum() / (hidden.sum() + labels.positive.sum())
    print(f"missing rate: true {truth:.3f}, estimated {estimate}")
    assert (summary["scores"], summary["clips"]) == ("out_of_fold", labels.num_clips)
    assert set(estimate) == {"rate", "low", "high", "method", "n"}
    assert estimate["low"] <= estimate["rate"] <= estimate["high"]
    # negatives go missing twice as often as positives here (30 % against 15 %), against the
    # calibration's assumption (missing at random given the score): the estimate leans high
    assert truth < estimate["rate"] < truth + 0.1
    result = runner.invoke(app, ["audit", "missing", "--run", str(cv), "--split", "test"])
    assert isinstance(result.exception, ValueError)
    assert "out-of-fold scores (a cross-validation directory, or --folds) cover the training clips" in str(
        result.exception
    )


def test_audit_missing_bad_input_names_what_is_wrong(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "missing", "--run", str(tmp_path / "nowhere")])
    assert result.exit_code != 0
    assert "not a training run" in str(result.exception)
    result = runner.invoke(app, ["audit", "missing", "--run", str(tmp_path), "--folds", "1"])
    assert "--folds must be in [2, 1000], got 1" in str(result.exception)
    result = runner.invoke(app, ["audit", "missing", "--run", str(tmp_path), "--split", "dev"])
    assert "--split must be train, valid, test or all" in str(result.exception)
