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
supervised loss of the batch). The views are drawn from generators seeded by the step, so a
resumed run draws the same ones. Batches of ``k`` labeled and ``m`` unlabeled clips come from
``sampler: labeled_unlabeled`` (4 + 4 in the original).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from earmark.augment.mixup import mixed_lengths
from earmark.augment.specaugment import SpecAugment, SpecAugmentConfig
from earmark.config import ConfigError, from_dict
from earmark.spec import TaggingSpec
from earmark.strategies.base import Strategy, masked_bce, register_strategy
from earmark.strategies.components.teacher import sigmoid_rampup
from earmark.strategies.supervised import SupervisedConfig, supervised_targets
from earmark.training.batch import Batch

__all__ = ["Consistency", "ConsistencyConfig", "sigmoid_consistency"]

VIEW_SEED = 20_190_610


@dataclasses.dataclass(frozen=True)
class ConsistencyConfig:
    """Pi-model settings.

    ``missing`` as in ``supervised``. ``weight`` multiplies the consistency term (0.01 in the
    original); ``rampup_steps`` is the length of its sigmoid ramp-up (0: none). ``views`` is
    ``specaugment`` or ``mixup``; ``specaugment`` holds the options of the SpecAugment views
    and ``mixup_alpha`` the ``Beta(α, α)`` of the mixup views.
    """

    missing: Literal["negative", "mask"] = "mask"
    weight: float = 0.01
    rampup_steps: int = 0
    views: Literal["specaugment", "mixup"] = "specaugment"
    specaugment: dict[str, Any] = dataclasses.field(default_factory=dict)
    mixup_alpha: float = 0.4

    def __post_init__(self) -> None:
        if self.weight < 0 or self.rampup_steps < 0:
            raise ConfigError(
                f"strategy.consistency.weight and rampup_steps must be >= 0, got {self.weight}, "
                f"{self.rampup_steps}"
            )
        if self.mixup_alpha <= 0:
            raise ConfigError(f"strategy.consistency.mixup_alpha must be positive, got {self.mixup_alpha}")
        from_dict(SpecAugmentConfig, self.specaugment, key="strategy.consistency.specaugment")


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
        super().__init__(spec, config)
        self._supervised = SupervisedConfig(missing=config.missing)
        self._specaugment = SpecAugment(from_dict(SpecAugmentConfig, config.specaugment))

    def scale(self, step: int) -> float:
        """The consistency weight times its ramp-up at ``step``."""
        return self.config.weight * sigmoid_rampup(step, self.config.rampup_steps)

    def _generator(self, step: int, view: int) -> torch.Generator:
        return torch.Generator().manual_seed(VIEW_SEED + 2 * step + view)

    def losses(
        self, batch: Batch, student: nn.Module, teacher: nn.Module | None, step: int
    ) -> dict[str, torch.Tensor]:
        """``{"bce", "consistency", "total"}``; consistency covers every row, labeled or not."""
        targets, weights = supervised_targets(batch, self._supervised)
        scale = self.scale(step)
        if self.config.views == "specaugment":
            features = self._specaugment(batch.features, self._generator(step, 0))
        else:
            features = batch.features
        logits = student(features, batch.lengths)
        bce = masked_bce(logits, targets, weights)
        if scale == 0.0:
            consistency = torch.zeros((), device=logits.device)
        elif self.config.views == "specaugment":
            other = student(self._specaugment(batch.features, self._generator(step, 1)), batch.lengths)
            consistency = sigmoid_consistency(other, torch.sigmoid(logits))
        else:
            consistency = self._mixup_consistency(batch, logits, student, step)
        return {"bce": bce, "consistency": consistency, "total": bce + scale * consistency}

    def _mixup_consistency(
        self, batch: Batch, logits: torch.Tensor, student: nn.Module, step: int
    ) -> torch.Tensor:
        features = batch.features
        generator = self._generator(step, 1)
        size = features.shape[0]
        partners = torch.randperm(size, generator=generator).to(features.device)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        draws = np.random.default_rng(seed).beta(self.config.mixup_alpha, self.config.mixup_alpha, size)
        lam = torch.as_tensor(draws, dtype=features.dtype, device=features.device)
        mixed = lam[:, None, None] * features + (1 - lam[:, None, None]) * features[partners]
        probabilities = torch.sigmoid(logits)
        target = lam[:, None] * probabilities + (1 - lam[:, None]) * probabilities[partners]
        lengths = mixed_lengths(batch.valid_frames, lam, partners)
        return sigmoid_consistency(student(mixed, lengths), target)
