"""Mean Teacher's ``evaluate`` (teacher, student, or chosen on validation) and ``rampup_steps: 0``."""

from __future__ import annotations

import json

import pytest
import torch
from strategy_helpers import SPEC

from earmark.config import ConfigError, from_dict
from earmark.strategies import build_strategy
from earmark.testing.prepared import make_prepared
from earmark.training.checkpoint import load_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer


def test_no_rampup_means_the_full_weight_from_the_first_step():
    strategy = build_strategy("mean_teacher", SPEC, {"rampup_steps": 0, "consistency_weight": 3.0})
    assert strategy.consistency_scale(0) == 3.0
    ramped = build_strategy("mean_teacher", SPEC, {"rampup_steps": 100, "consistency_weight": 3.0})
    assert ramped.consistency_scale(0) == pytest.approx(3.0 * torch.exp(torch.tensor(-5.0)).item())


def test_which_model_is_evaluated_and_which_reported():
    student, teacher = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    default = build_strategy("mean_teacher", SPEC, {})
    assert default.evaluation_model(student, teacher) is teacher
    assert default.reported_models(student, teacher) == {"student": student}
    assert default.choose_evaluated("lwlrap", {"lwlrap": 0.1}, {"student": {"lwlrap": 0.9}}) is None
    flipped = build_strategy("mean_teacher", SPEC, {"evaluate": "student"})
    assert flipped.evaluation_model(student, teacher) is student
    assert flipped.reported_models(student, teacher) == {"teacher": teacher}
    chosen = build_strategy("mean_teacher", SPEC, {"evaluate": "validation"})
    assert chosen.evaluation_model(student, teacher) is teacher
    assert chosen.choose_evaluated("lwlrap", {"lwlrap": 0.5}, {"student": {"lwlrap": 0.6}}) == "student"
    assert chosen.choose_evaluated("lwlrap", {"lwlrap": 0.6}, {"student": {"lwlrap": 0.6}}) is None  # tie
    with pytest.raises(ConfigError, match="evaluate"):
        build_strategy("mean_teacher", SPEC, {"evaluate": "both"})


def _fit(tmp_path, options: dict, chooses: str | None = "keep"):
    prepared = make_prepared(tmp_path / "prepared")
    config = from_dict(
        TrainConfig,
        {
            "data": {"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
            "model": "cnn",
            "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
            "strategy": "mean_teacher",
            "strategy_options": {"alpha": 0.9, "rampup_steps": 0, **options},
            "segment_frames": 16,
            "batch_size": 8,
            "epochs": 1,
            "optim": {"lr": 3e-3, "warmup_steps": 1},
        },
    )
    trainer = Trainer(config, tmp_path / "run")
    if chooses != "keep":  # the validation's choice forced, to reach both branches of the trainer
        trainer.strategy.choose_evaluated = lambda metric, evaluated, reported: chooses  # type: ignore[method-assign]
    summary = trainer.fit()
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    return trainer, summary, [r for r in rows if r["split"] == "valid"], best


def test_a_student_chosen_on_validation_is_what_the_best_checkpoint_holds(tmp_path):
    trainer, summary, valid, best = _fit(tmp_path, {"evaluate": "validation"}, chooses="student")
    student = trainer.model.state_dict()
    for key, value in best["model"].items():  # one validation, at the end: the last student
        torch.testing.assert_close(value, student[key], rtol=0, atol=0)
    assert best["evaluated"] == "student"
    assert summary["evaluated"] == "student"
    assert valid[-1]["evaluated"] == "student"
    assert summary["best_valid"] == valid[-1]["student_lwlrap"]
    assert "valid" in summary["reported"]["student"]


def test_the_teacher_kept_on_validation_is_not_named(tmp_path):
    trainer, summary, valid, best = _fit(tmp_path, {"evaluate": "validation"}, chooses=None)
    teacher = trainer.teacher.state_dict()
    for key, value in best["model"].items():
        torch.testing.assert_close(value, teacher[key], rtol=0, atol=0)
    assert best["evaluated"] is None
    assert "evaluated" not in summary
    assert "evaluated" not in valid[-1]
    assert summary["best_valid"] == valid[-1]["lwlrap"]


def test_evaluate_student_saves_the_student_and_reports_the_teacher(tmp_path):
    trainer, summary, valid, best = _fit(tmp_path, {"evaluate": "student"})
    student = trainer.model.state_dict()
    for key, value in best["model"].items():
        torch.testing.assert_close(value, student[key], rtol=0, atol=0)
    assert "teacher_lwlrap" in valid[-1]
    assert "teacher" in summary["reported"]
