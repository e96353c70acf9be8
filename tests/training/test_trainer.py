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
from earmark.training.fingerprint import RunDirectoryError
from earmark.training.schedule import TrainingClock, lr_factor
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
    run = tmp_path / "run"
    kept: list[bytes] = []

    def poison_after_step_5(step: int, total: int) -> None:
        if step == 5:  # last.pt was written at step 4 (checkpoint_every 2)
            kept.append((run / "checkpoints" / "last.pt").read_bytes())
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))

    trainer = Trainer(config(prepared, epochs=6, validate_every=1000), run, on_step=poison_after_step_5)
    with pytest.raises(TrainingDiverged, match="loss became nan at step"):
        trainer.fit()
    assert (run / "checkpoints" / "last.pt").read_bytes() == kept[0]


def test_checkpoint_from_another_spec_is_refused(prepared, tmp_path):
    Trainer(config(prepared, epochs=1), tmp_path / "run").fit()
    other = make_prepared(tmp_path / "other", num_classes=3)
    trainer = Trainer(config(other, epochs=1), tmp_path / "run")
    with pytest.raises(RunDirectoryError, match="other settings or labels"):
        trainer.fit(resume=True)
    (tmp_path / "run" / "fingerprint.json").unlink()  # a run from before fingerprints: the spec decides
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


def test_tensorboard_logs_the_rows(prepared, tmp_path):
    pytest.importorskip("torch.utils.tensorboard", reason="tensorboard is not installed")
    Trainer(config(prepared, epochs=1, tensorboard=True), tmp_path / "run").fit()
    events = list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    assert events[0].stat().st_size > 100


def test_balanced_sampler_oversamples_rare_classes():
    from earmark.data.labels import Labels
    from earmark.training.data import BalancedSampler

    labels = Labels.from_lists(
        [f"c{i}" for i in range(100)], [["common"]] * 90 + [["rare"]] * 10, ["common", "rare"]
    )
    sampler = BalancedSampler(labels, seed=0)
    drawn = np.array(list(sampler))
    rare_share = float((drawn >= 90).mean())
    assert 0.4 < rare_share < 0.6  # each class about half of the draws, against 10 % in the data
    sampler.set_epoch(1)
    assert list(sampler) != drawn.tolist()


def test_labeled_unlabeled_batches():
    from earmark.training.data import LabeledUnlabeledBatches

    labeled = np.array([True] * 10 + [False] * 25)
    sampler = LabeledUnlabeledBatches(labeled, labeled_per_batch=3, unlabeled_per_batch=5, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3
    for batch in batches:
        assert sum(labeled[i] for i in batch) == 3
        assert len(batch) == 8
    assert len({i for b in batches for i in b[:3]}) == 9  # no labeled clip twice in an epoch
    ranks = [
        list(
            LabeledUnlabeledBatches(
                labeled, labeled_per_batch=3, unlabeled_per_batch=5, seed=1, rank=r, world_size=2
            )
        )
        for r in (0, 1)
    ]
    assert len(ranks[0]) == len(ranks[1]) == 1
    with pytest.raises(ValueError, match="no unlabeled clips"):
        LabeledUnlabeledBatches(np.ones(5, bool), labeled_per_batch=2, unlabeled_per_batch=2, seed=0)


def test_labeled_unlabeled_batches_without_unlabeled_clips_fill_with_labeled_ones(prepared, tmp_path, caplog):
    # a filter stage that kept every clip leaves nothing to mix in: the stage still trains
    trainer = Trainer(config(prepared, sampler="labeled_unlabeled", labeled_per_batch=4), tmp_path / "run")
    assert trainer.train_loader.sampler.m == 0
    assert trainer.train_loader.sampler.k == trainer.config.batch_size
    assert "has no unlabeled clip" in caplog.text


def test_training_with_labeled_and_unlabeled_batches_resumes_exactly(prepared, tmp_path):
    labels = read_labels(prepared / "labels.csv")
    source = np.where(np.arange(labels.num_clips) % 3 == 0, "unlabeled", "curated").astype(object)
    unlabeled = labels.with_matrices(
        positive=labels.positive & (source != "unlabeled")[:, None],
        annotated=labels.annotated & (source != "unlabeled")[:, None],
    )
    import dataclasses

    write_labels(dataclasses.replace(unlabeled, source=source), tmp_path / "semi.csv")
    overrides = {
        "data.labels": str(tmp_path / "semi.csv"),
        "sampler": "labeled_unlabeled",
        "labeled_per_batch": 4,
    }
    whole = Trainer(config(prepared, **overrides), tmp_path / "whole")
    seen: list[tuple[str, ...]] = []
    original = whole.strategy.losses

    def spy(batch, student, teacher, step, generator):
        seen.append(batch.sources)
        return original(batch, student, teacher, step, generator)

    whole.strategy.losses = spy  # type: ignore[method-assign]
    whole.fit()
    assert all(s.count("unlabeled") == 4 for s in seen)

    class Interrupt(Exception):
        pass

    def stop_at_3(step: int, total: int) -> None:
        if step == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        Trainer(config(prepared, checkpoint_every=1, **overrides), tmp_path / "cut", on_step=stop_at_3).fit()
    resumed = Trainer(config(prepared, checkpoint_every=1, **overrides), tmp_path / "cut")
    resumed.fit(resume=True)
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


KILL_AT_STEP = """
import os, signal, sys
from earmark.config import load_yaml
from earmark.training.config import TrainConfig
from earmark.config import from_dict
from earmark.training.trainer import Trainer

def kill_at(step, total):
    if step == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)

Trainer(from_dict(TrainConfig, load_yaml(sys.argv[1])), sys.argv[2], on_step=kill_at).fit()
"""


def test_resume_after_sigkill_equals_uninterrupted(prepared, tmp_path):
    """A process killed with SIGKILL mid-run resumes from its last checkpoint to the same weights."""
    import subprocess
    import sys

    from earmark.config import dump_yaml

    cfg = config(prepared, checkpoint_every=3, augment={"specaugment": {}})
    whole = Trainer(cfg, tmp_path / "whole")
    whole.fit()

    (tmp_path / "config.yaml").write_text(dump_yaml(cfg))
    (tmp_path / "killer.py").write_text(KILL_AT_STEP)
    run = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "killer.py"),
            str(tmp_path / "config.yaml"),
            str(tmp_path / "cut"),
            "7",
        ],
        check=False,
    )
    assert run.returncode == -9  # killed, as planned
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["step"] == 6
    resumed = Trainer(cfg, tmp_path / "cut")
    resumed.fit(resume=True)
    for (name, a), b in zip(
        whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_report_off_writes_the_summary_but_no_report(prepared, tmp_path):
    Trainer(config(prepared, report=False, epochs=1), tmp_path / "run").fit()
    assert (tmp_path / "run" / "summary.json").exists()
    assert not (tmp_path / "run" / "report").exists()
    assert not (tmp_path / "run" / "curves.png").exists()


def test_a_time_budget_anneals_the_cosine_and_stops(prepared, tmp_path, monkeypatch):
    """Under max_minutes the cosine runs on time as well as steps: the step that exhausts the
    budget ends at the schedule's lowest learning rate, and the clock survives a resume."""
    import earmark.training.trainer as trainer_module

    now = [0.0]
    monkeypatch.setattr(trainer_module.time, "perf_counter", lambda: now[0])

    def tick(step: int, total: int) -> None:
        now[0] += 6.0  # every step takes 6 s of the 60 s budget

    settings = config(prepared, epochs=50, max_minutes=1.0, optim={"lr": 1e-2, "warmup_steps": 0})
    trainer = Trainer(settings, tmp_path / "run", on_step=tick)
    summary = trainer.fit()
    assert summary["steps"] == 11  # 11 steps of 6 s are the first past 60 s; 50 epochs were asked
    assert trainer.scheduler.get_last_lr()[0] == pytest.approx(1e-2 * settings.optim.min_lr_ratio)
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert last["seconds"] == pytest.approx(66.0)
    # halfway through the budget the factor is the cosine's midpoint, whatever the step count says
    factor = lr_factor(settings, 10_000, TrainingClock(1.0))
    clock = TrainingClock(1.0)
    clock.seconds = 30.0
    halfway = lr_factor(settings, 10_000, clock)
    assert halfway(5) == pytest.approx(settings.optim.min_lr_ratio + (1 - settings.optim.min_lr_ratio) * 0.5)
    assert factor(5) > 0.99


def test_a_torn_last_log_line_is_dropped_and_reported(tmp_path):
    from earmark.training.logbook import RunLog, read_log

    log = RunLog(tmp_path, enabled=True)
    log.write({"step": 1, "split": "train", "total": 0.5})
    log.write({"step": 2, "split": "train", "total": 0.4})
    with open(tmp_path / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"step": 3, "split": "tr')  # killed mid-write
    with pytest.warns(UserWarning, match="dropped a torn last line"):
        assert [row["step"] for row in log.rows()] == [1, 2]
    with pytest.warns(UserWarning, match="torn"):
        log.trim(5)  # a resume rewrites the log without the torn line
    assert [row["step"] for row in read_log(tmp_path / "metrics.jsonl")] == [1, 2]
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 3}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"metrics\.jsonl, line 2"):
        read_log(tmp_path / "metrics.jsonl")
