"""Asymmetric loss (ASL): focusing and probability shifting that spare doubtful negatives.

Ridnik, Ben-Baruch, Zamir, Friedman, Protter, Noy and Zelnik-Manor, "Asymmetric Loss For
Multi-Label Classification", ICCV 2021. With ``p = σ(z)`` the sigmoid of an entry's logit and
``y`` its (possibly soft) target, the loss of the entry is

``−y · (1 − p)^γ+ · log p  −  (1 − y) · p_m^γ− · log(1 − p_m)``,   ``p_m = max(p − m, 0)``.

The positive term is a focal loss with ``γ+``; the negative term focuses harder (``γ−``) and
shifts the probability by the clip ``m``: a negative the model already gives ``p ≤ m`` costs
nothing, and a confident "negative" the model calls positive (often a missing positive) has its
weight cut by the focusing. The paper's setting is ``γ+ = 0``, ``γ− = 4``, ``m = 0.05``, the
defaults here. With ``γ+ = γ− = 0`` and ``m = 0`` it is the binary cross-entropy.

Entries are averaged like :func:`~earmark.strategies.base.masked_bce` (the paper sums them), so
the limit above is exactly the BCE of ``supervised``. ``missing: negative`` (the default) reads a
missing entry as a negative, the positives-only reading the loss was made for; ``missing:
mask`` gives it no loss. Unlabeled rows never carry a loss.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, ClassVar, Literal

import torch
from torch import nn

from earmark.config import Range, check_ranges
from earmark.strategies.base import check_entry_shapes, register_strategy, weighted_mean
from earmark.strategies.supervised import EntryLossStrategy
from earmark.strategies.suspects import SuspectsConfig

__all__ = ["Asymmetric", "AsymmetricConfig", "asymmetric_loss"]

# beyond this a focusing weight underflows to 0 for all but near-certain entries (float32)
_MAX_GAMMA = 20.0


@dataclasses.dataclass(frozen=True)
class AsymmetricConfig:
    """``gamma_positive`` γ+, ``gamma_negative`` γ− (focusing exponents), ``clip`` m (shift, probability).

    ``missing``: ``negative`` (a missing entry is a negative) or ``mask`` (no loss on it).
    ``suspects`` scales the loss of suspected entries (:mod:`earmark.strategies.suspects`).
    """

    gamma_positive: Annotated[float, Range(ge=0, le=_MAX_GAMMA)] = 0.0
    gamma_negative: Annotated[float, Range(ge=0, le=_MAX_GAMMA)] = 4.0
    clip: Annotated[float, Range(ge=0, lt=1)] = 0.05
    missing: Literal["negative", "mask"] = "negative"
    suspects: SuspectsConfig | None = None

    def __post_init__(self) -> None:
        check_ranges(self, key="strategy_options")


def asymmetric_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    *,
    gamma_positive: float = 0.0,
    gamma_negative: float = 4.0,
    clip: float = 0.05,
) -> torch.Tensor:
    """The asymmetric loss averaged over the entries with non-zero weight.

    ``logits``, ``targets`` (in [0, 1], soft allowed) and ``weights`` are ``(batch, classes)``;
    an entry of weight 0 contributes nothing, and with every weight 0 the loss is 0. Finite with
    finite gradients for any finite logit: every log is a log-sigmoid or bounded below by
    ``log m``.
    """
    check_entry_shapes(logits, targets, weights)
    log_p = nn.functional.logsigmoid(logits)
    log_not_p = nn.functional.logsigmoid(-logits)
    positive = torch.exp(gamma_positive * log_not_p) * log_p
    # log(1 − p_m) = min(log(1 − p + m), 0), with 1 − p = σ(−z); log 0 = −inf leaves it log σ(−z)
    log_shift = torch.tensor(math.log(clip) if clip > 0 else -math.inf, dtype=logits.dtype)
    log_not_shifted = torch.logaddexp(log_not_p, log_shift.to(logits.device)).clamp_max(0.0)
    shifted = -torch.expm1(log_not_shifted)  # p_m, in [0, 1 − m]
    above = shifted > 0
    # the focusing weight where p_m > 0 only: p_m^γ has no finite gradient at 0 when γ < 1
    focus = torch.where(above, torch.where(above, shifted, torch.ones_like(shifted)) ** gamma_negative, 0.0)
    negative = focus * log_not_shifted
    per_entry = -(targets * positive + (1.0 - targets) * negative)
    return weighted_mean(per_entry, weights)


@register_strategy("asymmetric")
class Asymmetric(EntryLossStrategy):
    """The asymmetric loss of Ridnik et al. (ICCV 2021) on labeled clips: ``{"asl", "total"}``."""

    config_class: ClassVar[type] = AsymmetricConfig
    config: AsymmetricConfig
    loss_name = "asl"

    def entry_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:func:`asymmetric_loss` with the config's γ+, γ− and clip."""
        c = self.config
        gammas = {"gamma_positive": c.gamma_positive, "gamma_negative": c.gamma_negative}
        return asymmetric_loss(logits, targets, weights, **gammas, clip=c.clip)
