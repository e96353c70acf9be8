"""Teacher pieces: the exponential moving average, the consistency ramp-up, dropout-only noise."""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["ema_update", "frozen_copy", "noisy_teacher_mode", "sigmoid_rampup"]


def frozen_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` that never receives gradients (an EMA teacher, a weight average)."""
    duplicate = copy.deepcopy(model)
    for parameter in duplicate.parameters():
        parameter.requires_grad_(False)
    return duplicate


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, alpha: float) -> None:
    """``teacher ← α · teacher + (1 − α) · student`` for every floating parameter and buffer.

    Integer buffers (BatchNorm's batch counter) are copied. The two modules must have the same
    state-dict keys and shapes.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"the EMA decay must be in [0, 1], got {alpha}")
    student_state = student.state_dict()
    for name, value in teacher.state_dict().items():
        source = student_state[name]
        if value.is_floating_point():
            value.mul_(alpha).add_(source.detach(), alpha=1.0 - alpha)
        else:
            value.copy_(source)


def sigmoid_rampup(step: int, rampup_steps: int) -> float:
    """``exp(-5 (1 - t)²)`` with ``t = step / rampup_steps`` clipped to [0, 1]; 1 without ramp-up."""
    if rampup_steps <= 0:
        return 1.0
    t = min(max(step, 0), rampup_steps) / rampup_steps
    return math.exp(-5.0 * (1.0 - t) ** 2)


@contextlib.contextmanager
def noisy_teacher_mode(teacher: nn.Module, *, dropout: bool) -> Iterator[nn.Module]:
    """Evaluation mode for the teacher, except its dropout layers when ``dropout`` is True.

    BatchNorm stays in evaluation mode, so a teacher forward pass never changes the teacher's
    state: it changes only through :func:`ema_update`.
    """
    was_training = teacher.training
    teacher.eval()
    if dropout:
        for module in teacher.modules():
            if isinstance(module, nn.Dropout | nn.Dropout1d | nn.Dropout2d | nn.AlphaDropout):
                module.train()
    try:
        yield teacher
    finally:
        teacher.train(was_training)
