from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch import nn

from earmark.augment.specaugment import SpecAugment
from earmark.batch import Batch
from earmark.config import ConfigError, from_dict
from earmark.features.logmel import LogMelConfig
from earmark.models import build_model
from earmark.spec import TaggingSpec
from earmark.strategies import build_strategy
from earmark.strategies.components import ema_update, noisy_teacher_mode, sigmoid_rampup
from earmark.testing.prepared import make_prepared
from earmark.training.checkpoint import load_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer

SPEC = TaggingSpec(("a", "b", "c", "d"), LogMelConfig(n_mels=16), segment_frames=16)


def make_batch(seed: int = 0, size: int = 6) -> Batch:
    g = torch.Generator().manual_seed(seed)
    positive = (torch.rand(size, 4, generator=g) > 0.6).float()
    return Batch(
        features=torch.randn(size, 16, 16, generator=g),
        positive=positive,
        annotated=torch.ones_like(positive),
        labeled=torch.ones(size, dtype=torch.bool),
        clip_ids=tuple(f"c{i}" for i in range(size)),
        sources=("curated",) * size,
    )


def test_ema_update_is_the_weighted_average_and_copies_integer_buffers():
    student, teacher = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        student.weight.fill_(2.0)
        student.running_mean.fill_(1.0)
        student.num_batches_tracked.fill_(7)
    ema_update(teacher, student, 0.75)
    torch.testing.assert_close(teacher.weight, torch.full((3,), 0.75 * 1.0 + 0.25 * 2.0))
    torch.testing.assert_close(teacher.running_mean, torch.full((3,), 0.25))
    assert int(teacher.num_batches_tracked) == 7
    with pytest.raises(ValueError, match="EMA decay"):
        ema_update(teacher, student, 1.5)


def test_ramp_up_starts_small_and_reaches_one():
    assert sigmoid_rampup(0, 100) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(50, 100) == pytest.approx(math.exp(-5 * 0.25))
    assert sigmoid_rampup(100, 100) == 1.0
    assert sigmoid_rampup(500, 100) == 1.0
    assert sigmoid_rampup(0, 0) == 1.0


def test_the_ramp_up_is_used_in_the_loss():
    """The released code defined a ramp-up and never used it."""
    strategy = build_strategy("mean_teacher", SPEC, {"rampup_steps": 100, "teacher_view": "specaugment"})
    torch.manual_seed(0)
    student = build_model("cnn", SPEC, {"channels": [8, 16], "width_multiplier": 1.0})
    teacher = strategy.make_teacher(student)
    student.eval()
    batch = make_batch()
    for step in (0, 50, 100):
        losses = strategy.losses(batch, student, teacher, step, torch.Generator())
        expected = losses["bce"] + 3.0 * sigmoid_rampup(step, 100) * losses["consistency"]
        torch.testing.assert_close(losses["total"], expected)
        assert losses["consistency"] > 0


def test_the_teacher_changes_only_by_ema():
    strategy = build_strategy("mean_teacher", SPEC, {"alpha": 0.9, "ema_warmup": False})
    torch.manual_seed(0)
    student = build_model("cnn", SPEC, {"channels": [8, 16], "width_multiplier": 1.0})
    teacher = strategy.make_teacher(student)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.5)
    for step in range(3):
        before = copy.deepcopy(teacher.state_dict())
        student.train()
        strategy.losses(make_batch(step), student, teacher, step, torch.Generator())["total"].backward()
        # the loss's teacher pass changed nothing, not even BatchNorm statistics
        for key, value in teacher.state_dict().items():
            torch.testing.assert_close(value, before[key], rtol=0, atol=0)
        optimizer.step()
        optimizer.zero_grad()
        strategy.after_step(student, teacher, step)
        for key, value in teacher.state_dict().items():
            new = student.state_dict()[key]
            if value.is_floating_point():
                torch.testing.assert_close(value, 0.9 * before[key] + 0.1 * new)
            else:
                assert torch.equal(value, new)
    assert all(not p.requires_grad for p in teacher.parameters())


def test_the_teacher_view_comes_from_the_generator_given():
    strategy = build_strategy("mean_teacher", SPEC, {"rampup_steps": 0, "teacher_view": "specaugment"})
    torch.manual_seed(0)
    student = build_model("cnn", SPEC, {"channels": [8, 16], "width_multiplier": 1.0, "dropout": 0.0})
    teacher = strategy.make_teacher(student)
    student.eval()  # batch statistics would differ between the calls below
    teacher.eval()
    batch = make_batch()

    def consistency(seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return strategy.losses(batch, student, teacher, 5, generator)["consistency"].detach()

    first = consistency(0)
    torch.testing.assert_close(consistency(0), first, rtol=0, atol=0)
    assert not torch.equal(consistency(1), first)
    # the view is SpecAugment drawn from the generator (not from a seed of the step)
    view = SpecAugment()(batch.features, torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = (torch.sigmoid(student(batch.features)) - torch.sigmoid(teacher(view))).pow(2).mean()
    torch.testing.assert_close(first, expected)


def test_ema_warm_up_moves_the_teacher_faster_at_first():
    strategy = build_strategy("mean_teacher", SPEC, {"alpha": 0.999})
    student, teacher = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        student.weight.fill_(1.0)
        teacher.weight.fill_(0.0)
    strategy.after_step(student, teacher, 0)  # alpha = min(0.999, 1 - 1/2) = 0.5
    torch.testing.assert_close(teacher.weight, torch.full((2, 2), 0.5))


def test_noisy_teacher_mode_keeps_dropout_and_freezes_batchnorm():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    model.train()
    with noisy_teacher_mode(model, dropout=True):
        assert not model[1].training
        assert model[2].training
    assert model.training
    assert model[1].training
    with noisy_teacher_mode(model, dropout=False):
        assert not model[2].training


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="alpha"):
        build_strategy("mean_teacher", SPEC, {"alpha": 2.0})
    with pytest.raises(ConfigError, match="teacher_view"):
        build_strategy("mean_teacher", SPEC, {"teacher_view": "mixup"})


def test_the_trainer_evaluates_and_saves_the_teacher_and_reports_the_student(tmp_path):
    """The released code saved the student as the "best teacher"."""
    prepared = make_prepared(tmp_path / "prepared")
    config = from_dict(
        TrainConfig,
        {
            "data": {"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
            "model": "cnn",
            "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
            "strategy": "mean_teacher",
            "strategy_options": {"alpha": 0.9, "rampup_steps": 3},
            "segment_frames": 16,
            "batch_size": 8,
            "epochs": 1,
            "optim": {"lr": 3e-3, "warmup_steps": 1},
        },
    )
    trainer = Trainer(config, tmp_path / "run")
    summary = trainer.fit()
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")["model"]
    teacher, student = trainer.teacher.state_dict(), trainer.model.state_dict()
    for key, value in best.items():
        torch.testing.assert_close(value, teacher[key], rtol=0, atol=0)
    assert any(not torch.equal(best[k], student[k]) for k in best if best[k].is_floating_point())
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in rows if r["split"] == "valid"]
    assert valid
    assert "student_lwlrap" in valid[-1]
    assert "lwlrap" in valid[-1]
    assert "consistency" in next(r for r in rows if r["split"] == "train")
    assert set(summary["reported"]["student"]) == {"valid"}
