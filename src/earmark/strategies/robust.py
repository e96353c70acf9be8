"""Noise-robust losses: the generalised cross-entropy (Lq) in a binary, per-class form.

Zhang and Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with
Noisy Labels", NeurIPS 2018. For an entry of (possibly soft) target ``y`` and sigmoid
probability ``p = σ(z)`` the loss is

``y · (1 − p^q) / q  +  (1 − y) · (1 − (1 − p)^q) / q``,

that is ``(1 − p_t^q) / q`` with ``p_t`` the probability of the entry's label. ``q`` is in
(0, 1]: ``q → 0`` tends to the binary cross-entropy ``−log p_t``, and ``q = 1`` is the mean
absolute error ``1 − p_t``, robust to label noise but slow to train. In between, the gradient is
the BCE's scaled by ``p_t^q``: entries the model strongly disagrees with (often wrong labels)
pull less. ``q = 0.7`` is Zhang and Sabuncu's setting and the default here. Fonseca, Plakal,
Ellis, Font, Favory and Serra ("Learning Sound Event Classifiers from Web Audio with Noisy
Labels", ICASSP 2019) found Lq the most effective of the noise-robust losses they compared on
web audio with noisy labels (FSDnoisy18k, single-label with a softmax); the per-class sigmoid
form here carries it to multi-label tags.

Entries are averaged like :func:`~earmark.strategies.base.masked_bce`. ``missing: mask`` (the
default, as for ``supervised``) gives a missing entry no loss; ``missing: negative`` reads it as
a negative. Unlabeled rows never carry a loss.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, ClassVar, Literal

import torch
from torch import nn

from earmark.config import Range, check_ranges
from earmark.strategies.base import check_entry_shapes, register_strategy, weighted_mean
from earmark.strategies.supervised import EntryLossStrategy

__all__ = ["GeneralizedCE", "GeneralizedCEConfig", "lq_loss"]


@dataclasses.dataclass(frozen=True)
class GeneralizedCEConfig:
    """``q``: the exponent of the Lq loss, in (0, 1] (→ 0: BCE; 1: mean absolute error).

    ``missing``: ``mask`` (no loss on a missing entry) or ``negative`` (it is a negative).
    """

    q: Annotated[float, Range(gt=0, le=1)] = 0.7
    missing: Literal["negative", "mask"] = "mask"

    def __post_init__(self) -> None:
        check_ranges(self, key="strategy_options")


def lq_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, *, q: float) -> torch.Tensor:
    """The binary Lq loss averaged over the entries with non-zero weight.

    ``logits``, ``targets`` (in [0, 1], soft allowed) and ``weights`` are ``(batch, classes)``;
    an entry of weight 0 contributes nothing, and with every weight 0 the loss is 0.
    ``(1 − p^q) / q`` is computed as ``−expm1(q · log σ(z)) / q``: exact for small ``q`` and
    finite, with finite gradients, for any finite logit.
    """
    check_entry_shapes(logits, targets, weights)
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got {q}")
    positive = -torch.expm1(q * nn.functional.logsigmoid(logits)) / q
    negative = -torch.expm1(q * nn.functional.logsigmoid(-logits)) / q
    per_entry = targets * positive + (1.0 - targets) * negative
    return weighted_mean(per_entry, weights)


@register_strategy("generalized_ce")
class GeneralizedCE(EntryLossStrategy):
    """The generalised cross-entropy (Lq) of Zhang and Sabuncu (NeurIPS 2018): ``{"lq", "total"}``."""

    config_class: ClassVar[type] = GeneralizedCEConfig
    config: GeneralizedCEConfig
    loss_name = "lq"

    def entry_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:func:`lq_loss` with the config's ``q``."""
        return lq_loss(logits, targets, weights, q=self.config.q)
