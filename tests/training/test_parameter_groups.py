"""A model's parameter groups train at their own share of ``optim.lr``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from earmark.config import from_dict
from earmark.training.config import TrainConfig
from earmark.training.schedule import TrainingClock, build_optimizer, build_scheduler


class _Pretrained(nn.Module):
    def __init__(self, *, forget: bool = False) -> None:
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)
        self.forget = forget

    def parameter_groups(self):  # type: ignore[no-untyped-def]
        groups = [(self.body.parameters(), 0.1)]
        return groups if self.forget else [*groups, (self.head.parameters(), 1.0)]


def _config() -> TrainConfig:
    return from_dict(TrainConfig, {"optim": {"lr": 0.01, "warmup_steps": 0, "schedule": "constant"}})


def test_groups_get_their_scaled_rate_and_the_schedule_keeps_the_ratio():
    model = _Pretrained()
    optimizer = build_optimizer(model, _config())
    assert [group["lr"] for group in optimizer.param_groups] == pytest.approx([0.001, 0.01])
    scheduler = build_scheduler(optimizer, _config(), 10, TrainingClock(None))
    optimizer.step()
    scheduler.step()
    assert [group["lr"] for group in optimizer.param_groups] == pytest.approx([0.001, 0.01])


def test_a_plain_model_is_one_group_at_the_configured_rate():
    optimizer = build_optimizer(nn.Linear(3, 1), _config())
    assert len(optimizer.param_groups) == 1
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)


def test_groups_that_miss_a_parameter_are_refused():
    with pytest.raises(ValueError, match="must list every parameter exactly once"):
        build_optimizer(_Pretrained(forget=True), _config())


def test_frozen_parameters_are_left_out():
    model = _Pretrained()
    for parameter in model.body.parameters():
        parameter.requires_grad_(False)
    optimizer = build_optimizer(model, _config())
    assert len(optimizer.param_groups) == 1
    assert all(p.requires_grad for p in optimizer.param_groups[0]["params"])
    assert isinstance(optimizer, torch.optim.Adam)
