"""Noise-robust losses in a binary, per-class form: Lq, symmetric CE and bootstrapping.

Each loss is of an entry's (possibly soft) target ``y`` and sigmoid probability ``p = σ(z)``,
averaged over the entries like :func:`~earmark.strategies.base.masked_bce`. ``missing: mask``
(the default, as for ``supervised``) gives a missing entry no loss; ``missing: negative`` reads it
as a negative. Unlabeled rows never carry a loss.

**Generalised cross-entropy** (``generalized_ce``). Zhang and Sabuncu, "Generalized Cross Entropy
Loss for Training Deep Neural Networks with Noisy Labels", NeurIPS 2018:

``y · (1 − p^q) / q  +  (1 − y) · (1 − (1 − p)^q) / q``,

that is ``(1 − p_t^q) / q`` with ``p_t`` the probability of the entry's label. ``q`` is in
(0, 1]: ``q → 0`` tends to the binary cross-entropy ``−log p_t``, and ``q = 1`` is the mean
absolute error ``1 − p_t``, robust to label noise but slow to train. In between, the gradient is
the BCE's scaled by ``p_t^q``: entries the model strongly disagrees with (often wrong labels)
pull less. ``q = 0.7`` is Zhang and Sabuncu's setting and the default here. Fonseca, Plakal,
Ellis, Font, Favory and Serra ("Learning Sound Event Classifiers from Web Audio with Noisy
Labels", ICASSP 2019) found Lq the most effective of the noise-robust losses they compared on
web audio with noisy labels (FSDnoisy18k, single-label with a softmax); the per-class sigmoid
form here carries it to multi-label tags, and ``output: softmax`` gives their single-label form
(:mod:`earmark.strategies.softmax`, for every loss of this module).

**Symmetric cross-entropy** (``symmetric_ce``). Wang, Ma, Chen, Luo, Yi and Bailey, "Symmetric
Cross Entropy for Robust Learning with Noisy Labels", ICCV 2019: ``α · CE + β · RCE``, where the
reverse cross-entropy swaps the roles of label and prediction, ``RCE = −Σ_k p_k log y_k`` with
``log 0`` replaced by a constant ``A``. Per class (the two-outcome distributions ``(y, 1 − y)``
and ``(p, 1 − p)``)::

    CE  = −y log p − (1 − y) log(1 − p)
    RCE = −p log max(y, e^A) − (1 − p) log max(1 − y, e^A)

For a hard label RCE is ``−A (1 − p_t)``, a mean absolute error scaled by ``−A``: bounded, so a
wrong label cannot pull without limit. The paper sets ``A = −4``; its released code clamps the
label at 1e-4 before a natural log (``A = ln 1e-4 ≈ −9.21``). ``log_zero`` is ``A`` (default −4,
the paper's). The paper's weights: α = 0.1, β = 1.0 on CIFAR-10 (the defaults here); α = 6.0,
β = 0.1 on CIFAR-100 (harder classes need more of the CE to fit). With 50 classes (ESC-mix,
40 % of labels missing, one seed) the CIFAR-10 weights under-fit (validation macro PR-AUC 0.499
against 0.666 with the CIFAR-100 weights; B1 0.665).

**Bootstrapping** (``bootstrap``). Reed, Lee, Anguelov, Szegedy, Erhan and Rabinovich, "Training
Deep Neural Networks on Noisy Labels with Bootstrapping", ICLR 2015 workshop: the target becomes
``β · y + (1 − β) · q`` with ``q`` the model's own prediction. ``soft`` uses ``q = p`` (the
"soft" form, β = 0.95 in the paper); the loss of an entry is then exactly
``β · BCE(y, p) + (1 − β) · H(p)`` with ``H`` the binary entropy, a minimum-entropy pull towards
confident predictions; the gradient flows through both terms, as in the paper. ``hard`` uses
``q = 1[p > 0.5]`` (no gradient through ``q``; β = 0.8 in the paper). Fonseca et al. (ICASSP
2019) tried the soft form ("Lsoft") on FSDnoisy18k, and a Freesound Audio Tagging 2019 solution
(6th on the public leaderboard) trained its noisy clips with Lsoft at β = 0.7.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, ClassVar, Literal

import torch
from torch import nn

from earmark.config import Range, check_ranges
from earmark.inference import Activation
from earmark.strategies.base import check_entry_shapes, register_strategy, weighted_mean
from earmark.strategies.softmax import softmax_bootstrap, softmax_lq, softmax_symmetric_ce
from earmark.strategies.supervised import EntryLossStrategy
from earmark.strategies.suspects import SuspectsConfig

__all__ = [
    "Bootstrap",
    "BootstrapConfig",
    "GeneralizedCE",
    "GeneralizedCEConfig",
    "SymmetricCE",
    "SymmetricCEConfig",
    "bootstrap_loss",
    "lq_loss",
    "symmetric_ce_loss",
]

Missing = Literal["negative", "mask"]


@dataclasses.dataclass(frozen=True)
class GeneralizedCEConfig:
    """``q``: the exponent of the Lq loss, in (0, 1] (→ 0: BCE; 1: mean absolute error).

    ``missing``: ``mask`` (no loss on a missing entry) or ``negative`` (it is a negative).
    ``suspects`` scales the loss of suspected entries (:mod:`earmark.strategies.suspects`).
    ``output``: ``sigmoid`` (per class) or ``softmax`` (one class per clip, the paper's form).
    """

    q: Annotated[float, Range(gt=0, le=1)] = 0.7
    missing: Missing = "mask"
    suspects: SuspectsConfig | None = None
    output: Activation = "sigmoid"

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

    def class_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:func:`~earmark.strategies.softmax.softmax_lq` with the config's ``q``."""
        return softmax_lq(logits, targets, weights, q=self.config.q)


@dataclasses.dataclass(frozen=True)
class SymmetricCEConfig:
    """``alpha`` α (weight of the CE), ``beta`` β (weight of the reverse CE), ``log_zero`` A.

    ``missing``, ``suspects`` and ``output`` as for ``generalized_ce``.
    """

    alpha: Annotated[float, Range(ge=0, le=1000)] = 0.1  # α, the weight of the CE (0.1 CIFAR-10, 6 CIFAR-100)
    beta: Annotated[float, Range(ge=0, le=1000)] = 1.0  # β, the weight of the reverse CE
    log_zero: Annotated[float, Range(ge=-100, lt=0)] = -4.0  # A, the value of log 0 in the reverse CE
    missing: Missing = "mask"  # mask: no loss on a missing entry; negative: it is a negative
    suspects: SuspectsConfig | None = None  # an audit table whose entries' loss is scaled down
    output: Activation = "sigmoid"  # softmax: one class per clip, the loss's single-label form

    def __post_init__(self) -> None:
        check_ranges(self, key="strategy_options")


def symmetric_ce_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    *,
    alpha: float = 0.1,
    beta: float = 1.0,
    log_zero: float = -4.0,
) -> torch.Tensor:
    """``α · CE + β · RCE`` per entry (module docstring), averaged over the non-zero weights.

    ``logits``, ``targets`` (in [0, 1], soft allowed) and ``weights`` are ``(batch, classes)``.
    ``log_zero`` (A, negative) stands for ``log 0`` in the reverse term: a target's log is
    ``max(log y, A)``. Finite, with finite gradients, for any finite logit.
    """
    check_entry_shapes(logits, targets, weights)
    if log_zero >= 0:
        raise ValueError(f"log_zero (A) must be negative, got {log_zero}")
    ce = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p = torch.sigmoid(logits)
    floor = torch.tensor(math.exp(log_zero), dtype=targets.dtype, device=targets.device)
    log_y = torch.log(torch.maximum(targets, floor))
    log_not_y = torch.log(torch.maximum(1.0 - targets, floor))
    rce = -(p * log_y + (1.0 - p) * log_not_y)
    return weighted_mean(alpha * ce + beta * rce, weights)


@register_strategy("symmetric_ce")
class SymmetricCE(EntryLossStrategy):
    """The symmetric cross-entropy of Wang et al. (ICCV 2019), per class: ``{"sce", "total"}``."""

    config_class: ClassVar[type] = SymmetricCEConfig
    config: SymmetricCEConfig
    loss_name = "sce"

    def entry_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:func:`symmetric_ce_loss` with the config's α, β and A."""
        c = self.config
        return symmetric_ce_loss(logits, targets, weights, alpha=c.alpha, beta=c.beta, log_zero=c.log_zero)

    def class_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:func:`~earmark.strategies.softmax.softmax_symmetric_ce` with the config's α, β and A."""
        c = self.config
        return softmax_symmetric_ce(logits, targets, weights, alpha=c.alpha, beta=c.beta, log_zero=c.log_zero)


@dataclasses.dataclass(frozen=True)
class BootstrapConfig:
    """``beta`` β (the label's share of the target), ``mode`` ``soft`` (q = p) or ``hard`` (q = 1[p > 0.5]).

    ``missing``, ``suspects`` and ``output`` as for ``generalized_ce``. The paper's β: 0.95 soft,
    0.8 hard.
    """

    beta: Annotated[float, Range(ge=0, le=1)] = 0.95  # β, the label's share of the target
    mode: Literal["soft", "hard"] = "soft"  # the prediction in the target: soft p, or hard 1[p > 0.5]
    missing: Missing = "mask"  # mask: no loss on a missing entry; negative: it is a negative
    suspects: SuspectsConfig | None = None  # an audit table whose entries' loss is scaled down
    output: Activation = "sigmoid"  # softmax: one class per clip, the loss's single-label form

    def __post_init__(self) -> None:
        check_ranges(self, key="strategy_options")


def bootstrap_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    *,
    beta: float = 0.95,
    mode: Literal["soft", "hard"] = "soft",
) -> torch.Tensor:
    """The BCE against ``β · y + (1 − β) · q``, averaged over the entries with non-zero weight.

    ``soft``: ``q = σ(z)``, written as ``β · BCE(y) + (1 − β) · H(σ(z))`` (the same value and
    gradient). ``hard``: ``q = 1[z > 0]``, a constant of the step. ``logits``, ``targets`` and
    ``weights`` are ``(batch, classes)``.
    """
    check_entry_shapes(logits, targets, weights)
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if mode == "soft":
        labeled = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        p = torch.sigmoid(logits)
        entropy = -(p * nn.functional.logsigmoid(logits) + (1.0 - p) * nn.functional.logsigmoid(-logits))
        per_entry = beta * labeled + (1.0 - beta) * entropy
    elif mode == "hard":
        predicted = (logits.detach() > 0).to(targets.dtype)
        mixed = beta * targets + (1.0 - beta) * predicted
        per_entry = nn.functional.binary_cross_entropy_with_logits(logits, mixed, reduction="none")
    else:
        raise ValueError(f"mode must be soft or hard, got {mode!r}")
    return weighted_mean(per_entry, weights)


@register_strategy("bootstrap")
class Bootstrap(EntryLossStrategy):
    """Bootstrapping of Reed et al. (2015), per class: ``{"bootstrap", "total"}``."""

    config_class: ClassVar[type] = BootstrapConfig
    config: BootstrapConfig
    loss_name = "bootstrap"

    def entry_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:func:`bootstrap_loss` with the config's β and mode."""
        return bootstrap_loss(logits, targets, weights, beta=self.config.beta, mode=self.config.mode)

    def class_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:func:`~earmark.strategies.softmax.softmax_bootstrap` with the config's β and mode."""
        return softmax_bootstrap(logits, targets, weights, beta=self.config.beta, mode=self.config.mode)
