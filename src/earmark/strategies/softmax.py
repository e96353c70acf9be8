"""Single-label losses: one softmax over the classes instead of one sigmoid per class.

When every clip has exactly one class (ESC-50, UrbanSound8K, FSDnoisy18k, speech commands), the
classes are exclusive and the usual loss is the categorical cross-entropy of a softmax. Fonseca
et al. ("Learning Sound Event Classifiers from Web Audio with Noisy Labels", ICASSP 2019) compared
their noise-robust losses in this form on FSDnoisy18k, and on ESC-10's aisfx embeddings a
logistic-regression probe with a softmax beat the same probe with one sigmoid per class by 0.010
accuracy (``benchmarks/RESULTS.md``, "Embedding heads on ESC-10 aisfx"). The strategies
``supervised``, ``generalized_ce``, ``symmetric_ce`` and ``bootstrap`` take ``output: softmax``
to train this way; the run then scores clips with a softmax too (its
:class:`~earmark.inference.Segmenting` records the activation, so validation, ``predict``,
timelines and audits read the probabilities the loss trained).

Targets are the rows of ``(batch, classes)`` soft targets, normalised to sum to one: a hard
label, or a mixup of two (``λ · y₁ + (1 − λ) · y₂``). A row's weight is the weight of its
labeled class (:func:`row_targets`), so unlabeled rows and rows whose positive is missing carry
no loss, and ``suspects`` scales the row of a suspected label. With ``p = softmax(z)`` and the
normalised target ``t``:

- cross-entropy ``−Σ_k t_k log p_k``;
- Lq (Zhang and Sabuncu, NeurIPS 2018, in its own softmax form) ``Σ_k t_k (1 − p_k^q) / q``,
  for a hard label ``(1 − p_y^q) / q``;
- symmetric CE (Wang et al., ICCV 2019, its own form) ``α · CE + β · RCE`` with
  ``RCE = −Σ_k p_k · max(log t_k, A)``;
- bootstrapping (Reed et al., 2015): ``soft`` is ``β · CE(t) + (1 − β) · H(p)``, ``hard`` the CE
  against ``β · t + (1 − β) · onehot(argmax p)``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import nn

from earmark.config import ConfigError
from earmark.data.labels import Labels
from earmark.strategies.base import check_entry_shapes

__all__ = [
    "check_single_label",
    "row_targets",
    "softmax_bootstrap",
    "softmax_ce",
    "softmax_lq",
    "softmax_symmetric_ce",
]


def row_targets(targets: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(targets, row_weights)``: each row's targets summing to one and the weight of its class.

    ``targets`` and ``weights`` are ``(batch, classes)``. Entries of weight 0 (missing, or on an
    unlabeled row) do not count as targets; a row's weight is the mean of its entries' weights
    weighted by its targets (the labeled class's weight for a hard label), 0 for a row without a
    positive of non-zero weight. Returns ``(batch, classes)`` and ``(batch,)``.
    """
    known = targets * (weights > 0).to(targets.dtype)
    mass = known.sum(dim=1)
    safe = mass.clamp_min(1e-12)
    row_weights = torch.where(mass > 0, (weights * known).sum(dim=1) / safe, torch.zeros_like(mass))
    return known / safe[:, None], row_weights


def _weighted_rows(per_row: torch.Tensor, row_weights: torch.Tensor) -> torch.Tensor:
    return (per_row * row_weights).sum() / row_weights.sum().clamp_min(1.0)


def _checked(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    check_entry_shapes(logits, targets, weights)
    normalised, row_weights = row_targets(targets, weights)
    return normalised, row_weights, nn.functional.log_softmax(logits, dim=1)


def softmax_ce(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, *, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Categorical cross-entropy averaged over the rows of non-zero weight.

    ``label_smoothing`` ε moves each row's target to ``(1 − ε) · t + ε / classes``.
    ``logits``, ``targets`` and ``weights`` are ``(batch, classes)``.
    """
    t, row_weights, log_p = _checked(logits, targets, weights)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[1]
    return _weighted_rows(-(t * log_p).sum(dim=1), row_weights)


def softmax_lq(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, *, q: float
) -> torch.Tensor:
    """Lq, ``Σ_k t_k (1 − p_k^q) / q``, averaged over the rows of non-zero weight.

    ``(1 − p^q) / q`` is computed as ``−expm1(q · log p) / q``: exact for small ``q``, and
    finite, with finite gradients, for any finite logits.
    """
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got {q}")
    t, row_weights, log_p = _checked(logits, targets, weights)
    return _weighted_rows((t * (-torch.expm1(q * log_p) / q)).sum(dim=1), row_weights)


def softmax_symmetric_ce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    *,
    alpha: float = 0.1,
    beta: float = 1.0,
    log_zero: float = -4.0,
) -> torch.Tensor:
    """``α · CE + β · RCE`` with ``RCE = −Σ_k p_k max(log t_k, A)``, over the rows of non-zero weight."""
    if log_zero >= 0:
        raise ValueError(f"log_zero (A) must be negative, got {log_zero}")
    t, row_weights, log_p = _checked(logits, targets, weights)
    ce = -(t * log_p).sum(dim=1)
    floor = torch.tensor(math.exp(log_zero), dtype=t.dtype, device=t.device)
    rce = -(log_p.exp() * torch.log(torch.maximum(t, floor))).sum(dim=1)
    return _weighted_rows(alpha * ce + beta * rce, row_weights)


def softmax_bootstrap(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    *,
    beta: float = 0.95,
    mode: Literal["soft", "hard"] = "soft",
) -> torch.Tensor:
    """Bootstrapping in softmax form (module docstring), over the rows of non-zero weight."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    t, row_weights, log_p = _checked(logits, targets, weights)
    if mode == "soft":
        entropy = -(log_p.exp() * log_p).sum(dim=1)
        per_row = beta * -(t * log_p).sum(dim=1) + (1.0 - beta) * entropy
    elif mode == "hard":
        predicted = nn.functional.one_hot(logits.detach().argmax(dim=1), t.shape[1]).to(t.dtype)
        per_row = -((beta * t + (1.0 - beta) * predicted) * log_p).sum(dim=1)
    else:
        raise ValueError(f"mode must be soft or hard, got {mode!r}")
    return _weighted_rows(per_row, row_weights)


def check_single_label(labels: Labels, strategy: str) -> None:
    """``ConfigError`` unless every labeled clip of ``labels`` has exactly one positive class.

    A softmax over the classes assumes one class per clip; multi-label or empty rows would be
    trained towards a target the model cannot express.
    """
    labeled = labels.source != "unlabeled"
    counts = labels.positive[labeled].sum(axis=1)
    bad = np.flatnonzero(counts != 1)
    if len(bad):
        ids = np.asarray(labels.clip_ids)[labeled][bad]
        raise ConfigError(
            f"strategy {strategy} with output: softmax needs one class per labeled training clip; "
            f"{len(bad)} of {int(labeled.sum())} do not (first: {ids[0]!r} has {int(counts[bad[0]])} "
            "positive classes). Use output: sigmoid for multi-label data."
        )
