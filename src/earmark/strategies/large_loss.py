"""Large-loss modification: B0 whose largest assumed-negative losses are rejected or corrected.

Kim, Kim, Akata & Lee, "Large Loss Matters in Weakly Supervised Multi-Label Classification"
(CVPR 2022). A missing (unannotated) entry of a labeled clip is assumed negative, as in B0;
false negatives among them are memorized late, so in every batch the assumed negatives with the
largest BCE are treated apart, by ``mode``:

* ``reject`` (LL-R): their loss is dropped (it still counts in the mean's denominator, as the
  paper's λ = 0);
* ``correct_temporary`` (LL-Ct): their target is 1 for this step only;
* ``correct_permanent`` (LL-Cp): their target is 1 for this step, and the entry (clip id,
  class) is remembered after the optimizer step: from then on it is a positive target and no
  longer an assumed negative. The remembered entries are the strategy's ``state_dict``, so a
  resumed run continues exactly.

Annotated entries (positive or negative) keep their plain BCE; unlabeled rows carry no loss.

The share modified rises with training. The paper counts epochs: in epoch ``t`` (from 1) the
``(t - 1) Δrel`` largest share is modified, so the first epoch is plain B0, with Δrel = 0.2 %
(0.002). A strategy does not know the run's steps per epoch, so here the share is a function of
the step::

    rate(step) = min(max_rate, delta_rel * (step // rate_every_steps))

``rate_every_steps`` set to the run's steps per epoch (logged by the Trainer when it starts)
gives the paper's schedule; the first ``rate_every_steps`` steps modify nothing. A batch modifies
``ceil(rate · n)`` of its ``n`` assumed negatives (the released code's strict ``>`` against the
k-th loss modified one fewer). ``max_rate`` caps the share for long schedules (the paper trains
10 epochs; 1 is no cap).

``correct_permanent`` refuses distributed runs: each process would remember only its own
clips' corrections, and the checkpoint keeps the first process's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

import torch
from torch import nn

from earmark.batch import Batch
from earmark.config import ConfigError, Range, check_ranges
from earmark.data.labels import Labels
from earmark.spec import TaggingSpec
from earmark.strategies.base import Strategy, TrainingContext, register_strategy, world_size

__all__ = ["LargeLoss", "LargeLossConfig", "large_loss_rate", "select_large_losses"]

Mode = Literal["reject", "correct_temporary", "correct_permanent"]


@dataclasses.dataclass(frozen=True)
class LargeLossConfig:
    """``mode``: ``reject`` (LL-R), ``correct_temporary`` (LL-Ct) or ``correct_permanent`` (LL-Cp).

    The share of assumed negatives modified rises by ``delta_rel`` every ``rate_every_steps``
    steps, up to ``max_rate`` (module docstring).
    """

    mode: Mode = "reject"
    delta_rel: Annotated[float, Range(ge=0, le=1)] = 0.002
    rate_every_steps: Annotated[int, Range(ge=1)] = 1000
    max_rate: Annotated[float, Range(ge=0, le=1)] = 1.0

    def __post_init__(self) -> None:
        check_ranges(self, key="strategy_options")
        if self.mode not in ("reject", "correct_temporary", "correct_permanent"):
            raise ConfigError(
                f"strategy_options.mode must be reject, correct_temporary or correct_permanent, "
                f"got {self.mode!r}"
            )


def large_loss_rate(step: int, *, delta_rel: float, rate_every_steps: int, max_rate: float) -> float:
    """The share of assumed negatives modified at ``step`` (0-based): 0 for the first period."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return min(max_rate, delta_rel * (step // rate_every_steps))


def select_large_losses(losses: torch.Tensor, candidates: torch.Tensor, rate: float) -> torch.Tensor:
    """Mask of the ``ceil(rate · n)`` largest ``losses`` among the ``n`` ``candidates``.

    ``losses`` (float) and ``candidates`` (bool) are ``(batch, classes)``; the result is a bool
    ``(batch, classes)`` mask, never outside ``candidates``. Ties go to the earlier entry in
    row-major order.
    """
    if losses.shape != candidates.shape:
        raise ValueError(f"losses {tuple(losses.shape)} and candidates {tuple(candidates.shape)} differ")
    count = int(candidates.sum())
    k = min(count, math.ceil(rate * count - 1e-9)) if rate > 0 else 0
    selected = torch.zeros(losses.numel(), dtype=torch.bool, device=losses.device)
    if k:
        flat = torch.where(candidates, losses.detach(), torch.full_like(losses, -math.inf)).flatten()
        # a stable descending sort keeps ties in index order (topk's choice among ties is unspecified)
        order = torch.sort(flat, descending=True, stable=True).indices
        selected[order[:k]] = True
    return selected.view_as(candidates)


@register_strategy("large_loss")
class LargeLoss(Strategy):
    """B0 BCE with the largest assumed-negative losses rejected or corrected (Kim et al., 2022)."""

    config_class: ClassVar[type] = LargeLossConfig
    config: LargeLossConfig

    def __init__(self, spec: TaggingSpec, config: LargeLossConfig) -> None:
        super().__init__(spec, config)
        self._corrected: dict[str, set[int]] = {}  # LL-Cp: clip id -> classes now positive
        self._pending: list[tuple[str, int]] = []  # corrections of the last losses() call

    def prepare_labels(self, train: Labels, context: TrainingContext) -> Labels:
        """The labels unchanged; ``correct_permanent`` refuses a distributed run (module docstring)."""
        if self.config.mode == "correct_permanent" and world_size() > 1:
            raise ConfigError(
                "strategy_options.mode correct_permanent keeps its corrections per process and "
                "cannot run distributed; train on one process or use correct_temporary"
            )
        return super().prepare_labels(train, context)

    def rate(self, step: int) -> float:
        """The share of assumed negatives modified at ``step``."""
        c = self.config
        return large_loss_rate(
            step, delta_rel=c.delta_rel, rate_every_steps=c.rate_every_steps, max_rate=c.max_rate
        )

    def losses(
        self,
        batch: Batch,
        student: nn.Module,
        teacher: nn.Module | None,
        step: int,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        """``{"bce", "total", "rate"}``; ``rate`` is the share modified (draws nothing)."""
        logits = student(batch.features, batch.lengths).float()
        labeled = batch.labeled[:, None].expand_as(batch.positive)
        known = batch.annotated != 0
        remembered = self._remembered(batch) & labeled & ~known
        assumed_negative = labeled & ~known & ~remembered
        targets = torch.where(known, batch.positive.float(), remembered.float())
        weights = labeled.float()
        per_entry = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        rate = self.rate(step)
        selected = select_large_losses(per_entry, assumed_negative, rate)
        if self.config.mode == "reject":
            kept = weights * (~selected).float()
        else:
            flipped = nn.functional.binary_cross_entropy_with_logits(
                logits, torch.ones_like(logits), reduction="none"
            )
            per_entry, kept = torch.where(selected, flipped, per_entry), weights
        if self.config.mode == "correct_permanent":
            rows, classes = torch.nonzero(selected, as_tuple=True)
            self._pending = [
                (batch.clip_ids[r], int(c)) for r, c in zip(rows.tolist(), classes.tolist(), strict=True)
            ]
        bce = (per_entry * kept).sum() / weights.sum().clamp_min(1.0)
        return {"bce": bce, "total": bce, "rate": torch.tensor(rate, device=logits.device)}

    def after_step(self, student: nn.Module, teacher: nn.Module | None, step: int) -> None:
        """LL-Cp: remember the entries the step just trained on corrected."""
        for clip_id, index in self._pending:
            self._corrected.setdefault(clip_id, set()).add(index)
        self._pending = []

    def state_dict(self) -> dict[str, Any]:
        """LL-Cp's remembered corrections, ``{"corrected": {clip id: [class index, ...]}}``."""
        if self.config.mode != "correct_permanent":
            return {}
        return {"corrected": {clip: sorted(classes) for clip, classes in sorted(self._corrected.items())}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; a class index outside the spec raises ``ValueError``."""
        corrected = {
            str(clip): {int(c) for c in classes} for clip, classes in state.get("corrected", {}).items()
        }
        for clip, classes in corrected.items():
            bad = [c for c in classes if not 0 <= c < self.spec.num_classes]
            if bad:
                raise ValueError(
                    f"large_loss state: clip {clip!r} has class indices {bad} outside "
                    f"0..{self.spec.num_classes - 1}; the checkpoint is of another vocabulary"
                )
        self._corrected, self._pending = corrected, []

    def _remembered(self, batch: Batch) -> torch.Tensor:
        """Bool ``(batch, classes)``: the entries LL-Cp corrected in earlier steps."""
        if not self._corrected:  # every mode but correct_permanent, and its first steps
            return torch.zeros(batch.positive.shape, dtype=torch.bool, device=batch.positive.device)
        mask = torch.zeros(batch.positive.shape, dtype=torch.bool)
        for row, clip in enumerate(batch.clip_ids):
            for index in self._corrected.get(clip, ()):
                mask[row, index] = True
        return mask.to(batch.positive.device)
