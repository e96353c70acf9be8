"""Mixup for multi-label targets with missing entries (Zhang et al. 2018).

Each example ``i`` is mixed with a partner ``j = partners[i]`` (a random permutation of the
batch) with a weight ``λ_i ~ Beta(α, α)``, drawn per example:

* features: ``λ x_i + (1 − λ) x_j``;
* ``positive`` targets: ``λ y_i + (1 − λ) y_j``, floats in ``[0, 1]``;
* ``annotated`` masks, rule ``"both"`` (the default): an entry of the mix is known only when it is
  known in both clips, because its target depends on both; a clip with weight 0 does not count
  (``known = (a_i or λ = 0) and (a_j or λ = 1)``), so ``λ = 1`` or ``j = i`` leaves the labels as
  they are. For positives-only data (``annotated == positive``) this keeps few entries, so the
  alternative rule ``"positives_known"`` also marks as known every entry that is a known positive
  in either clip: mixing adds sounds, so a sound present in one clip is present in the mix, with
  target at least its weight (the unknown entry of the other clip counts as 0).

``λ`` is drawn with numpy's Beta sampler seeded from the torch generator passed in (torch's Beta
takes no generator), so runs repeat exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import numpy as np
import torch
from torch import Tensor

from earmark.augment.base import Transform, check_probability, random_bernoulli, register_augmentation
from earmark.config import ConfigError, Probability, Range, check_ranges

__all__ = ["MixedBatch", "Mixup", "MixupConfig", "MixupParams", "mixed_lengths"]


@dataclasses.dataclass(frozen=True)
class MixupConfig:
    """Options of :class:`Mixup`.

    Parameters
    ----------
    alpha
        ``α > 0`` of the ``Beta(α, α)`` weight distribution.
    p
        Probability that an example is mixed at all (otherwise ``λ = 1``).
    annotated_rule
        How ``annotated`` masks combine: ``"both"`` or ``"positives_known"`` (module docstring).

    """

    alpha: Annotated[float, Range(gt=0, le=1000)] = 0.4
    p: Probability = 1.0
    annotated_rule: Literal["both", "positives_known"] = "both"

    def __post_init__(self) -> None:
        if self.alpha <= 0:
            raise ConfigError(f"alpha must be positive, got {self.alpha}")
        check_probability(self.p, "p")
        if self.annotated_rule not in ("both", "positives_known"):
            raise ConfigError(
                f"annotated_rule must be 'both' or 'positives_known', got {self.annotated_rule!r}"
            )
        check_ranges(self, key="mixup")


@dataclasses.dataclass(frozen=True)
class MixupParams:
    """``weights`` λ float64 ``(batch,)`` and ``partners`` int64 ``(batch,)`` (a permutation)."""

    weights: Tensor
    partners: Tensor


@dataclasses.dataclass(frozen=True)
class MixedBatch:
    """A mixed batch.

    ``features`` ``(batch, frames, dim)``; ``positive`` ``(batch, classes)`` float in ``[0, 1]``;
    ``annotated`` ``(batch, classes)`` in the dtype it came in.
    """

    features: Tensor
    positive: Tensor
    annotated: Tensor


@register_augmentation("mixup")
class Mixup(Transform[MixupConfig, MixupParams]):
    """Mixup of features and of multi-label targets and masks; see the module docstring."""

    config_class = MixupConfig

    def sample(self, batch_size: int, frames: int, dim: int, generator: torch.Generator) -> MixupParams:
        """Per-example weights and a random pairing."""
        partners = torch.randperm(batch_size, generator=generator, device=generator.device)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
        weights_np = np.random.default_rng(seed).beta(self.config.alpha, self.config.alpha, size=batch_size)
        weights = torch.as_tensor(weights_np, dtype=torch.float64, device=generator.device)
        mixed = random_bernoulli(generator, (batch_size,), self.config.p)
        return MixupParams(weights=torch.where(mixed, weights, torch.ones_like(weights)), partners=partners)

    def apply(self, features: Tensor, params: MixupParams) -> Tensor:
        """Mixed features ``λ x_i + (1 − λ) x_j``, same shape and dtype."""
        self._check(features.shape[0], params)
        partners = params.partners.to(features.device)
        weights = params.weights.to(features.device, features.dtype)[:, None, None]
        return weights * features + (1.0 - weights) * features[partners]

    def mix(self, features: Tensor, positive: Tensor, annotated: Tensor, params: MixupParams) -> MixedBatch:
        """Mix features, ``positive`` targets and ``annotated`` masks of a batch.

        Parameters
        ----------
        features
            ``(batch, frames, dim)``.
        positive
            ``(batch, classes)``, bool or float in ``[0, 1]``.
        annotated
            ``(batch, classes)``, bool or float 0 / 1 (non-zero = known).
        params
            From :meth:`sample`.

        Returns
        -------
        MixedBatch
            Float ``positive`` (the features' dtype), ``annotated`` in its input dtype.

        """
        batch_size = features.shape[0]
        if positive.shape != annotated.shape or positive.dim() != 2 or positive.shape[0] != batch_size:
            raise ValueError(
                f"positive {tuple(positive.shape)} and annotated {tuple(annotated.shape)} must both be "
                f"(batch={batch_size}, classes)"
            )
        mixed_features = self.apply(features, params)
        partners = params.partners.to(positive.device)
        weights = params.weights.to(positive.device)[:, None]
        targets = positive.to(features.dtype)
        weight = weights.to(features.dtype)
        mixed_positive = (weight * targets + (1.0 - weight) * targets[partners]).clamp(0.0, 1.0)
        known = annotated != 0
        known_mix = (known | (weights == 0)) & (known[partners] | (weights == 1))
        if self.config.annotated_rule == "positives_known":
            present = known & (positive != 0)
            known_mix |= (present & (weights > 0)) | (present[partners] & (weights < 1))
        return MixedBatch(mixed_features, mixed_positive, known_mix.to(annotated.dtype))

    def mix_batch(
        self, features: Tensor, positive: Tensor, annotated: Tensor, generator: torch.Generator
    ) -> MixedBatch:
        """Sample parameters for the batch and :meth:`mix` it."""
        batch_size, frames, dim = features.shape
        return self.mix(features, positive, annotated, self.sample(batch_size, frames, dim, generator))

    @staticmethod
    def _check(batch_size: int, params: MixupParams) -> None:
        if params.weights.shape != (batch_size,) or params.partners.shape != (batch_size,):
            raise ValueError(
                f"mixup parameters are for {tuple(params.weights.shape)} examples, the batch has {batch_size}"
            )


def mixed_lengths(lengths: torch.Tensor, weights: torch.Tensor, partners: torch.Tensor) -> torch.Tensor:
    """Valid frames of mixed rows: the longer of the pair, or one clip's own when its weight is 0 or 1."""
    lengths = lengths.to(partners.device)
    other = lengths[partners]
    longer = torch.maximum(lengths, other)
    weights = weights.to(partners.device)
    return torch.where(weights >= 1, lengths, torch.where(weights <= 0, other, longer))
