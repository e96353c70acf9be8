"""Expected-positive regularisation (EPR) for single-positive and positives-only labels.

Cole, Mac Aodha, Lorieul, Perona, Morris and Jojic, "Multi-Label Learning from Single Positive
Labels", CVPR 2021. Nothing is assumed about a missing entry; instead the model's expected
number of positives per clip is pulled towards ``k``:

``L = (1 / (B · L_c)) Σ_{annotated} BCE  +  λ · ((1 / B) Σ_n Σ_i p_ni − k)² / L_c²``

over a batch of ``B`` clips and ``L_c`` classes. The first term is the BCE on the annotated
entries (the observed positives of single-positive data, and explicit negatives where the data
has them) divided by *every* entry of the labeled clips, as the released code does; the second
is the squared gap between the batch's mean number of predicted positives and ``k``, divided by
``L_c²`` (the released code's normalisation; it adds the term with weight 1, the default λ
here). The regulariser uses every clip of the batch, labeled or not: the expected count is a
property of the clips, not of their labels.

The paper takes ``k`` as known (the true mean number of positives per image of the training
set). ``expected_positives`` sets it; left null, it is estimated from the training labels
before training:

* with explicit negatives: ``k̂ = Σ_c n⁺_c / n_c``, the per-class positive rate among the
  annotated entries, summed over classes (unbiased when entries go missing independently of
  their value);
* positives only (no entry annotated negative): the mean number of annotated positives per
  labeled clip, a lower bound (the missing positives are not counted) that makes EPR no more
  optimistic than the labels. Give ``expected_positives`` when a better figure is known.

The estimate and its source are written to ``expected_positives.json`` in the run.

``entropy_weight`` α adds Zhou, Chen, Wang, Chen and Heng's entropy maximisation ("Acknowledging
the Unknown for Multi-label Learning with Single Positive Labels", ECCV 2022, "EM"):
``− α · Σ_{missing} H(p) / (B · L_c)``, the binary entropy of each missing entry of the labeled
clips over the same denominator as the BCE, which keeps an unknown entry uncertain instead of
pushing it to 0. Their released settings: α = 0.1 (COCO, NUS-WIDE), 0.2 (PASCAL VOC), 0.01 (CUB).
``weight: 0`` with ``entropy_weight`` > 0 is their EM loss alone; the default α = 0 is EPR alone.
Cole et al.'s "assume negative with label smoothing" (AN-LS) needs no new strategy: it is
``supervised`` with ``missing: negative`` and ``label_smoothing: 0.2`` (earmark's ε moves targets
to ε/2 and 1 − ε/2; the paper's coefficient 0.1 moves them to 0.1 and 0.9).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, ClassVar

import numpy as np
import torch
from torch import nn

from earmark.batch import Batch
from earmark.config import Range, check_ranges
from earmark.data.labels import Labels
from earmark.io import write_text_atomic
from earmark.spec import TaggingSpec
from earmark.strategies.base import Strategy, TrainingContext, check_entry_shapes, register_strategy

__all__ = [
    "ExpectedPositive",
    "ExpectedPositiveConfig",
    "epr_loss",
    "estimate_expected_positives",
    "missing_entropy",
]


@dataclasses.dataclass(frozen=True)
class ExpectedPositiveConfig:
    """``expected_positives`` k (null: estimated), ``weight`` λ, ``entropy_weight`` α (EM; 0: none)."""

    expected_positives: Annotated[float, Range(gt=0, le=1_000_000)] | None = None  # k (null: from the labels)
    weight: Annotated[float, Range(ge=0, le=1_000_000)] = 1.0  # λ, the weight of the regulariser
    entropy_weight: Annotated[float, Range(ge=0, le=1_000_000)] = 0.0  # α, the entropy's weight (EM)

    def __post_init__(self) -> None:
        check_ranges(self, key="strategy_options")


def estimate_expected_positives(labels: Labels) -> tuple[float, str]:
    """``(k̂, how)``: the expected number of positives per clip, from the labels alone.

    Per class positive rate among annotated entries, summed, when some entry is annotated
    negative; else the mean number of positives per labeled clip (a lower bound). Clips of source
    ``unlabeled`` are left out; a class never annotated adds nothing.

    Examples
    --------
    >>> labels = Labels.from_lists(["x", "y"], [["a"], ["a", "b"]], ["a", "b", "c"])
    >>> estimate_expected_positives(labels)
    (1.5, 'per-class positive rate among annotated entries')

    """
    keep = labels.source != "unlabeled"
    positive, annotated = labels.positive[keep], labels.annotated[keep]
    if not positive.any():
        raise ValueError("the training labels hold no positive: the expected number of positives is unknown")
    if (annotated & ~positive).any():
        counted = annotated.sum(0)
        rates = positive.sum(0) / np.maximum(counted, 1)
        return float(rates.sum()), "per-class positive rate among annotated entries"
    return float(positive.sum(1).mean()), "mean annotated positives per clip (positives only: a lower bound)"


def epr_loss(
    logits: torch.Tensor, targets: torch.Tensor, annotated: torch.Tensor, labeled: torch.Tensor, *, k: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(bce, regulariser)`` of EPR (module docstring), before the weight λ.

    ``logits``, ``targets`` and ``annotated`` (1 where the entry is known) are ``(batch,
    classes)``; ``labeled`` is ``(batch,)`` bool. The BCE sums over the annotated entries of the
    labeled rows and divides by all entries of those rows (0 without labeled rows); the
    regulariser is over every row.
    """
    check_entry_shapes(logits, targets, annotated)
    classes = logits.shape[1]
    rows = labeled.to(logits.dtype)[:, None]
    per_entry = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    bce = (per_entry * annotated * rows).sum() / (rows.sum() * classes).clamp_min(1.0)
    expected = torch.sigmoid(logits).sum(1).mean()
    return bce, (expected - k) ** 2 / classes**2


@register_strategy("expected_positive")
class ExpectedPositive(Strategy):
    """BCE on annotated entries + λ · EPR − α · missing entropy: ``{"bce", "epr", "entropy", "total"}``."""

    config_class: ClassVar[type] = ExpectedPositiveConfig
    config: ExpectedPositiveConfig

    def __init__(self, spec: TaggingSpec, config: ExpectedPositiveConfig) -> None:
        super().__init__(spec, config)
        self.expected_positives = config.expected_positives

    def prepare_labels(self, train: Labels, context: TrainingContext) -> Labels:
        """The labels unchanged; k estimated from them unless set; the main process writes it."""
        how = "set by expected_positives"
        if self.config.expected_positives is None:
            self.expected_positives, how = estimate_expected_positives(train)
        if context.is_main:
            summary = {"expected_positives": self.expected_positives, "source": how}
            write_text_atomic(context.run_dir / "expected_positives.json", json.dumps(summary, indent=2))
        return train

    def losses(
        self,
        batch: Batch,
        student: nn.Module,
        teacher: nn.Module | None,
        step: int,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        """``{"bce", "epr", "entropy", "total"}`` of the student's logits (draws nothing)."""
        if self.expected_positives is None:
            raise ValueError(
                "expected_positive's k is unknown: set expected_positives or run prepare_labels first"
            )
        logits = student(batch.features, batch.lengths)
        bce, epr = epr_loss(logits, batch.positive, batch.annotated, batch.labeled, k=self.expected_positives)
        entropy = missing_entropy(logits, batch.annotated, batch.labeled)
        total = bce + self.config.weight * epr - self.config.entropy_weight * entropy
        return {"bce": bce, "epr": epr, "entropy": entropy, "total": total}


def missing_entropy(logits: torch.Tensor, annotated: torch.Tensor, labeled: torch.Tensor) -> torch.Tensor:
    """The binary entropy (nats) summed over the missing entries of the labeled rows, over all their entries.

    ``logits`` and ``annotated`` are ``(batch, classes)``, ``labeled`` ``(batch,)`` bool; the
    denominator is the one of :func:`epr_loss`'s BCE (0 without labeled rows).
    """
    rows = labeled.to(logits.dtype)[:, None]
    p = torch.sigmoid(logits)
    entropy = -(p * nn.functional.logsigmoid(logits) + (1.0 - p) * nn.functional.logsigmoid(-logits))
    return (entropy * (1.0 - annotated) * rows).sum() / (rows.sum() * logits.shape[1]).clamp_min(1.0)
