"""Optimizer, learning-rate schedule and the training clock of a run.

The schedule is warm-up, then cosine, step or constant. Under ``max_minutes`` a cosine decays by
steps or by time, whichever is further along (:class:`TrainingClock`), so a run that the time
budget stops still ends at the low learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from earmark.training.config import TrainConfig

__all__ = [
    "TrainingClock",
    "build_optimizer",
    "build_scheduler",
    "count_steps",
    "lr_factor",
    "parameter_groups",
]


class TrainingClock:
    """Seconds of training so far (over resumes) and the share of a ``max_minutes`` budget used.

    Parameters
    ----------
    max_minutes
        The budget, or None for none (``progress`` is then always 0).

    """

    def __init__(self, max_minutes: float | None) -> None:
        self.budget = None if max_minutes is None else 60.0 * max_minutes
        self.seconds = 0.0

    @property
    def progress(self) -> float:
        """Share of the budget used, in [0, 1]; 0 without a budget."""
        return 0.0 if not self.budget else min(1.0, self.seconds / self.budget)

    @property
    def out_of_time(self) -> bool:
        """Whether the budget is spent."""
        return self.budget is not None and self.seconds > self.budget


def count_steps(config: TrainConfig, steps_per_epoch: int) -> int:
    """Optimizer steps of a run: ``epochs`` epochs, capped by ``max_steps``."""
    steps = config.epochs * steps_per_epoch
    return min(steps, config.max_steps) if config.max_steps else steps


def lr_factor(config: TrainConfig, total_steps: int, clock: TrainingClock) -> Callable[[int], float]:
    """The factor on ``optim.lr`` at each step: warm-up, then the schedule.

    Under ``max_minutes`` a cosine decays by steps or by time (``clock``), whichever is further
    along.
    """
    optim = config.optim

    def factor(step: int) -> float:
        if optim.warmup_steps and step < optim.warmup_steps:
            return (step + 1) / optim.warmup_steps
        if optim.schedule == "constant":
            return 1.0
        if optim.schedule == "step":
            return float(optim.step_gamma ** (step // optim.step_every))
        progress = min(1.0, (step - optim.warmup_steps) / max(1, total_steps - optim.warmup_steps))
        progress = max(progress, clock.progress)
        return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW over ``model``'s trainable parameters, with the fused kernel.

    The fused kernel updates every tensor in one pass: on a CPU 20x faster per step than the
    default loop over tensors, which for small models was a tenth of the training time.
    """
    optimizer_class = torch.optim.AdamW if config.optim.name == "adamw" else torch.optim.Adam
    groups = [
        {"params": [p for p in params if p.requires_grad], "lr": config.optim.lr * scale}
        for params, scale in parameter_groups(model)
    ]
    groups = [group for group in groups if group["params"]]
    return optimizer_class(groups, lr=config.optim.lr, weight_decay=config.optim.weight_decay, fused=True)


def parameter_groups(model: nn.Module) -> list[tuple[list[nn.Parameter], float]]:
    """``model``'s parameters with the factor on ``optim.lr`` each trains at.

    A model may define ``parameter_groups()`` returning ``(parameters, lr_scale)`` pairs (a
    pretrained network fine-tuned below the head's learning rate); otherwise every parameter
    trains at ``optim.lr``. The schedule multiplies each group's own rate.
    """
    custom = getattr(model, "parameter_groups", None)
    if custom is None:
        return [(list(model.parameters()), 1.0)]
    groups = [(list(params), float(scale)) for params, scale in custom()]
    listed = {id(p) for params, _ in groups for p in params}
    every = {id(p) for p in model.parameters()}
    if len(listed) != sum(len(params) for params, _ in groups) or listed != every:
        raise ValueError(f"{type(model).__name__}.parameter_groups() must list every parameter exactly once")
    return groups


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int, clock: TrainingClock
) -> torch.optim.lr_scheduler.LambdaLR:
    """The run's schedule on ``optimizer`` (see :func:`lr_factor`)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config, total_steps, clock))
