"""An exponential moving average of the trained weights, the model a run evaluates with ``ema_decay``.

After each optimizer step the average moves towards the trained weights,
``average ← d · average + (1 − d) · trained`` for every floating parameter and buffer (batch
norm's running statistics included; its batch counter is copied), with the decay warmed up as
``d = min(ema_decay, (1 + step) / (10 + step))`` so the first steps are not dominated by the
random initialisation. On a few hundred steps of a small data set the average smooths out the
last steps' noise the way a checkpoint picked on a tiny validation share cannot.
"""

from __future__ import annotations

from torch import nn

from earmark.strategies.components.teacher import ema_update, frozen_copy

__all__ = ["average_copy", "update_average", "warmed_decay"]


def warmed_decay(decay: float, step: int) -> float:
    """``min(decay, (1 + step) / (10 + step))`` for the update after optimizer step ``step`` (0-based)."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return min(decay, (1.0 + step) / (10.0 + step))


def average_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` to hold the average: same weights, no gradients, evaluation mode."""
    return frozen_copy(model).eval()


def update_average(average: nn.Module, trained: nn.Module, decay: float, step: int) -> None:
    """Move ``average`` towards ``trained`` with :func:`warmed_decay` of ``decay`` at ``step``."""
    ema_update(average, trained, warmed_decay(decay, step))
