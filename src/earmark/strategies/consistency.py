"""Pi-model consistency: BCE on labeled clips plus the squared difference between two views.

Stage 2 of the FSDKaggle2019 multi-stage system: every clip of the batch, labeled or not, is
seen twice, and the model is asked to give both views the same outputs. The loss is

``BCE(view a, labeled rows) + weight · ramp(step) · mean((σ(f(view a)) − σ(f(view b)))²)``

over every row and class. The outputs compared are *sigmoids*, one per class: the original code
applied a softmax across classes before the difference, which ties the classes of a multi-label
output together. There is no teacher: gradients flow through both views.

``views``:

* ``specaugment``: two independent SpecAugment draws of the batch (by default one frequency and
  one time mask of up to 15 % each, zero-filled, as in the original); the BCE is on view a.
* ``mixup``: view a is the batch as given, view b mixes its features in pairs,
  ``λ x_i + (1 − λ) x_j``; the consistency target of a mixed row is the same mix of the two
  rows' outputs on view a, ``λ σ(f(x_i)) + (1 − λ) σ(f(x_j))`` (interpolation consistency).

With ``weight: 0`` no second view is computed and the loss is the plain BCE of
:class:`~earmark.strategies.supervised.Supervised` on view a (with ``views: mixup``, exactly the
supervised loss of the batch). The views are drawn from the run's generator (seeded by the
run's seed, checkpointed): every seed draws its own views, and a resumed run draws the same
ones. Batches of ``k`` labeled and ``m`` unlabeled clips come from ``sampler:
labeled_unlabeled`` (4 + 4 in the original). ``enhance`` trains on labels enhanced by a teacher
run (:mod:`earmark.strategies.enhancer`).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, ClassVar, Literal

import torch
from torch import nn

from earmark.augment.mixup import Mixup, MixupConfig, mixed_lengths
from earmark.augment.specaugment import SpecAugment, SpecAugmentConfig
from earmark.batch import Batch
from earmark.config import ConfigError, NonNegativeInt, Range, check_ranges
from earmark.spec import TaggingSpec
from earmark.strategies.base import Strategy, masked_bce, register_strategy
from earmark.strategies.components.teacher import sigmoid_rampup
from earmark.strategies.enhancer import EnhanceConfig, check_enhance_masks
from earmark.strategies.supervised import supervised_targets

__all__ = ["Consistency", "ConsistencyConfig", "sigmoid_consistency"]


@dataclasses.dataclass(frozen=True)
class ConsistencyConfig:
    """Pi-model settings.

    ``missing`` as in ``supervised``. ``weight`` multiplies the consistency term (0.01 in the
    original); ``rampup_steps`` is the length of its sigmoid ramp-up (0: none). ``views`` is
    ``specaugment`` or ``mixup``; ``specaugment`` holds the options of the SpecAugment views
    and ``mixup_alpha`` the ``Beta(α, α)`` of the mixup views. ``enhance`` as in
    ``supervised``.
    """

    missing: Literal["negative", "mask"] = "mask"
    weight: Annotated[float, Range(ge=0, le=1_000_000)] = 0.01
    rampup_steps: NonNegativeInt = 0
    views: Literal["specaugment", "mixup"] = "specaugment"
    specaugment: SpecAugmentConfig = dataclasses.field(default_factory=SpecAugmentConfig)
    mixup_alpha: Annotated[float, Range(gt=0, le=1000)] = 0.4
    enhance: EnhanceConfig | None = None

    def __post_init__(self) -> None:
        if self.weight < 0 or self.rampup_steps < 0:
            raise ConfigError(
                f"strategy.consistency.weight and rampup_steps must be >= 0, got {self.weight}, "
                f"{self.rampup_steps}"
            )
        if self.mixup_alpha <= 0:
            raise ConfigError(f"strategy.consistency.mixup_alpha must be positive, got {self.mixup_alpha}")
        check_ranges(self, key="strategy.consistency")
        check_enhance_masks(self.enhance, self.missing, "strategy.consistency")


def sigmoid_consistency(logits_a: torch.Tensor, target_probabilities: torch.Tensor) -> torch.Tensor:
    """Mean over rows and classes of ``(σ(logits_a) − target_probabilities)²``.

    Both are ``(batch, classes)``; every class is compared on its own sigmoid (no softmax).
    """
    if logits_a.shape != target_probabilities.shape:
        raise ValueError(
            f"the two views' outputs differ in shape: {tuple(logits_a.shape)} and "
            f"{tuple(target_probabilities.shape)}"
        )
    return (torch.sigmoid(logits_a) - target_probabilities).pow(2).mean()


@register_strategy("consistency")
class Consistency(Strategy):
    """Masked BCE on labeled rows + weight · ramp · squared sigmoid difference of two views."""

    config_class: ClassVar[type] = ConsistencyConfig
    config: ConsistencyConfig

    def __init__(self, spec: TaggingSpec, config: ConsistencyConfig) -> None:
        super().__init__(spec, config, enhance=config.enhance)
        self._specaugment = SpecAugment(config.specaugment)
        self._mixup = Mixup(MixupConfig(alpha=config.mixup_alpha))

    def scale(self, step: int) -> float:
        """The consistency weight times its ramp-up at ``step``."""
        return self.config.weight * sigmoid_rampup(step, self.config.rampup_steps)

    def losses(
        self,
        batch: Batch,
        student: nn.Module,
        teacher: nn.Module | None,
        step: int,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        """``{"bce", "consistency", "total"}``; consistency covers every row, labeled or not.

        The views are drawn from ``generator``: with ``specaugment``, view a (also with weight 0)
        then view b; with ``mixup``, the pairs and weights of the mixed view.
        """
        targets, weights = supervised_targets(batch, missing=self.config.missing)
        scale = self.scale(step)
        if self.config.views == "specaugment":
            features = self._specaugment(batch.features, generator)
        else:
            features = batch.features
        logits = student(features, batch.lengths)
        bce = masked_bce(logits, targets, weights)
        if scale == 0.0:
            consistency = torch.zeros((), device=logits.device)
        elif self.config.views == "specaugment":
            other = student(self._specaugment(batch.features, generator), batch.lengths)
            consistency = sigmoid_consistency(other, torch.sigmoid(logits))
        else:
            consistency = self._mixup_consistency(batch, logits, student, generator)
        return {"bce": bce, "consistency": consistency, "total": bce + scale * consistency}

    def _mixup_consistency(
        self, batch: Batch, logits: torch.Tensor, student: nn.Module, generator: torch.Generator
    ) -> torch.Tensor:
        """The mixed view's outputs against the same mix of view a's sigmoid outputs."""
        size, frames, dim = batch.features.shape
        params = self._mixup.sample(size, frames, dim, generator)
        mixed = self._mixup.apply(batch.features, params)
        partners = params.partners.to(logits.device)
        weights = params.weights.to(logits.device)
        lam = weights.to(logits.dtype)[:, None]
        probabilities = torch.sigmoid(logits)
        target = lam * probabilities + (1 - lam) * probabilities[partners]
        lengths = mixed_lengths(batch.valid_frames, weights, partners)
        return sigmoid_consistency(student(mixed, lengths), target)
