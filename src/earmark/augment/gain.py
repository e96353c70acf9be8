"""Random gain in decibels, for log-mel features or raw waveform frames.

A gain of ``g`` dB multiplies power by ``10^(g/10)`` and amplitude by ``10^(g/20)``. earmark's
log-mel is the natural log of mel power (plus a tiny offset), so in the ``"log_power"`` domain
the gain adds ``g · ln(10) / 10`` to every value (exact but for the offset, which only matters
near digital silence); ``"log_magnitude"`` (a log-mel with ``power = 1``) adds
``g · ln(10) / 20``; ``"waveform"`` multiplies the samples by ``10^(g/20)``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Literal

import torch
from torch import Tensor

from earmark.augment.base import (
    Transform,
    check_probability,
    random_bernoulli,
    random_uniform,
    register_augmentation,
)
from earmark.config import ConfigError, Probability, Range, check_ranges

__all__ = ["Gain", "GainConfig", "GainParams", "gain_offset"]

Domain = Literal["log_power", "log_magnitude", "waveform"]


def gain_offset(gain_db: Tensor, domain: Literal["log_power", "log_magnitude"]) -> Tensor:
    """What ``gain_db`` adds to natural-log power (``ln 10 / 10`` per dB) or magnitude (``/ 20``)."""
    return gain_db * (math.log(10.0) / (10.0 if domain == "log_power" else 20.0))


@dataclasses.dataclass(frozen=True)
class GainConfig:
    """Options of :class:`Gain`.

    Parameters
    ----------
    min_gain_db, max_gain_db
        The gain is uniform in ``[min_gain_db, max_gain_db]`` decibels, per example.
    domain
        What the features are: ``"log_power"`` (earmark's log-mel), ``"log_magnitude"`` or
        ``"waveform"`` (raw sample frames).
    p
        Probability that an example gets a gain (otherwise 0 dB).

    """

    min_gain_db: Annotated[float, Range(ge=-100, le=100)] = -6.0
    max_gain_db: Annotated[float, Range(ge=-100, le=100)] = 6.0
    domain: Domain = "log_power"
    p: Probability = 1.0

    def __post_init__(self) -> None:
        check_ranges(self, key="gain")
        if self.min_gain_db > self.max_gain_db:
            raise ConfigError(f"min_gain_db ({self.min_gain_db}) exceeds max_gain_db ({self.max_gain_db})")
        if self.domain not in ("log_power", "log_magnitude", "waveform"):
            raise ConfigError(
                f"domain must be 'log_power', 'log_magnitude' or 'waveform', got {self.domain!r}"
            )
        check_probability(self.p, "p")


@dataclasses.dataclass(frozen=True)
class GainParams:
    """``gain_db``: float64 ``(batch,)``, the gain of each example in dB."""

    gain_db: Tensor


@register_augmentation("gain")
class Gain(Transform[GainConfig, GainParams]):
    """Random gain per example, applied in the configured domain."""

    config_class = GainConfig

    def sample(self, batch_size: int, frames: int, dim: int, generator: torch.Generator) -> GainParams:
        """A gain in dB for each example."""
        config = self.config
        gain_db = random_uniform(generator, (batch_size,), config.min_gain_db, config.max_gain_db)
        applied = random_bernoulli(generator, (batch_size,), config.p)
        return GainParams(torch.where(applied, gain_db, torch.zeros_like(gain_db)))

    def apply(self, features: Tensor, params: GainParams) -> Tensor:
        """Features ``(batch, frames, dim)`` with each example's gain applied."""
        if params.gain_db.shape != (features.shape[0],):
            raise ValueError(
                f"gain parameters are for {tuple(params.gain_db.shape)} examples, "
                f"the features have {features.shape[0]}"
            )
        gain_db = params.gain_db.to(features.device)[:, None, None]
        domain = self.config.domain
        if domain == "waveform":
            return features * (10.0 ** (gain_db / 20.0)).to(features.dtype)
        return features + gain_offset(gain_db, domain).to(features.dtype)
