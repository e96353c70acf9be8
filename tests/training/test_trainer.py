from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from earmark.config import ConfigError, from_dict
from earmark.data.table import read_labels, write_labels
from earmark.predictions import Predictions
from earmark.spec import SpecMismatchError
from earmark.testing.prepared import make_prepared
from earmark.training.checkpoint import load_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer, TrainingDiverged

TINY_CNN = {"channels": [8, 16], "width_multiplier": 1.0}


def config(prepared, **overrides):
    data = {
        "data": {"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
        "model": "cnn",
        "model_options": TINY_CNN,
        "segment_frames": 16,
        "batch_size": 8,
        "epochs": 3,
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "checkpoint_every": 2,
        "seed": 7,
    }
    for key, value in overrides.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return from_dict(TrainConfig, data)


@pytest.fixture
def prepared(tmp_path):
    return make_prepared(tmp_path / "prepared")


def test_a_run_writes_everything_and_learns(prepared, tmp_path):
    run = tmp_path / "run"
    summary = Trainer(config(prepared, epochs=15), run).fit()
    for name in (
        "config.yaml",
        "spec.json",
        "metrics.jsonl",
        "summary.json",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
        "predictions/valid.npz",
        "curves.png",
        "report/report.html",
        "report/metrics.json",
    ):
        assert (run / name).exists(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in rows} == {"train", "valid"}
    assert summary["valid"]["lwlrap"] > 0.8  # the synthetic task is easy; chance is about 0.5
    predictions = Predictions.read(run / "predictions" / "valid.npz")
    assert predictions.num_clips == 20
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert best["lwlrap"] == pytest.approx(summary["best_valid"])


def test_resume_after_interruption_equals_uninterrupted(prepared, tmp_path):
    augment = {"mixup": {"alpha": 0.4}, "specaugment": {}}
    whole = Trainer(config(prepared, augment=augment), tmp_path / "whole")
    whole.fit()

    class Interrupt(Exception):
        pass

    def stop_at_5(step: int, total: int) -> None:
        if step == 5:
            raise Interrupt

    first = Trainer(
        config(prepared, checkpoint_every=1, augment=augment), tmp_path / "cut", on_step=stop_at_5
    )
    with pytest.raises(Interrupt):
        first.fit()
    # checkpoint of step 4 is the last one written before the interruption at step 5
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["step"] == 4
    resumed = Trainer(config(prepared, checkpoint_every=1, augment=augment), tmp_path / "cut")
    resumed.fit(resume=True)
    for (name, a), b in zip(
        whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    steps = [json.loads(r)["step"] for r in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)


def test_nan_loss_stops_with_a_clear_message(prepared, tmp_path):
    trainer = Trainer(config(prepared), tmp_path / "run")
    trainer.fit()
    kept = (tmp_path / "run" / "checkpoints" / "last.pt").read_bytes()
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    trainer.config = config(prepared, epochs=6)
    trainer.total_steps = 100
    with pytest.raises(TrainingDiverged, match="loss became nan at step"):
        trainer.fit(resume=False)
    assert (tmp_path / "run" / "checkpoints" / "last.pt").read_bytes() == kept


def test_checkpoint_from_another_spec_is_refused(prepared, tmp_path):
    Trainer(config(prepared, epochs=1), tmp_path / "run").fit()
    other = make_prepared(tmp_path / "other", num_classes=3)
    trainer = Trainer(config(other, epochs=1), tmp_path / "run")
    with pytest.raises(SpecMismatchError, match="classes differ"):
        trainer.fit(resume=True)


def test_bad_configs(prepared, tmp_path):
    with pytest.raises(ValueError, match=r"unknown fold 9; folds present: \[1, 2, 3\]"):
        Trainer(config(prepared, **{"data.valid_folds": [9]}), tmp_path / "a")
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        Trainer(config(prepared, model="nope"), tmp_path / "b")
    with pytest.raises(ConfigError, match="unknown strategy 'nope'"):
        Trainer(config(prepared, strategy="nope"), tmp_path / "c")
    with pytest.raises(ValueError, match="unknown metric 'accuracyy'"):
        Trainer(config(prepared, metric="accuracyy"), tmp_path / "d")
    with pytest.raises(ConfigError, match="fold 3 is in more than one"):
        config(prepared, **{"data.test_folds": [3]})
    with pytest.raises(FileNotFoundError, match="no finished feature store"):
        Trainer(config(tmp_path / "nothing"), tmp_path / "e")
    labels = read_labels(prepared / "labels.csv")
    write_labels(labels.take(np.array([], dtype=int)), tmp_path / "empty.csv")
    with pytest.raises(ValueError, match=r"unknown fold 1; folds present: \[\]"):
        Trainer(config(prepared, **{"data.labels": str(tmp_path / "empty.csv")}), tmp_path / "f")
