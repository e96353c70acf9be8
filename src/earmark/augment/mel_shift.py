"""Random shift along the mel axis: a cheap stand-in for pitch shifting, on log-mel features.

Each example is moved up or down by a whole number of mel bands, drawn uniformly from
``[-max_shift_bands, max_shift_bands]``. Shifting the log-mel image by ``k`` bands is what a pitch
shift does where the mel scale is close to logarithmic (above about 1 kHz); below that it is an
approximation. Pitch shifting was the most useful single augmentation for environmental sound
classification in Salamon & Bello (2017); on a spectrogram it costs a gather instead of a
resampling of the audio. Bands moved in from outside the image are filled with the example's
lowest value (near silence: a pitch shift moves energy, it brings none in) or, with
``fill: edge``, a copy of the nearest band.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import torch
from torch import Tensor

from earmark.augment.base import (
    Transform,
    check_probability,
    random_bernoulli,
    random_integers,
    register_augmentation,
)
from earmark.config import ConfigError, Probability, Range, check_ranges

__all__ = ["MelShift", "MelShiftConfig", "MelShiftParams", "shift_bands"]


@dataclasses.dataclass(frozen=True)
class MelShiftConfig:
    """Options of :class:`MelShift`.

    Parameters
    ----------
    max_shift_bands
        The largest shift, in mel bands, up or down (uniform over the whole numbers between).
    fill
        What enters at the edge: the example's ``minimum`` value, or a copy of the ``edge`` band.
    p
        Probability that an example is shifted (otherwise left as it is).

    """

    max_shift_bands: Annotated[int, Range(ge=0, le=10_000)] = 4
    fill: Literal["minimum", "edge"] = "minimum"
    p: Probability = 1.0

    def __post_init__(self) -> None:
        check_ranges(self, key="mel_shift")
        if self.fill not in ("minimum", "edge"):
            raise ConfigError(f"mel_shift fill must be 'minimum' or 'edge', got {self.fill!r}")
        check_probability(self.p, "p")


@dataclasses.dataclass(frozen=True)
class MelShiftParams:
    """``shift_bands``: int64 ``(batch,)``; positive moves content to higher bands."""

    shift_bands: Tensor


def shift_bands(features: Tensor, shift: Tensor, *, fill: Literal["minimum", "edge"] = "minimum") -> Tensor:
    """Features ``(batch, frames, dim)`` with example ``i`` moved up by ``shift[i]`` bands along ``dim``.

    Band ``b`` of the output is band ``b - shift[i]`` of the input; bands that fall outside
    take ``fill`` (the example's minimum, or the nearest band).
    """
    batch, frames, dim = features.shape
    source = torch.arange(dim, device=features.device)[None, :] - shift.to(features.device)[:, None]
    inside = (source >= 0) & (source < dim)
    index = source.clamp(0, dim - 1)[:, None, :].expand(batch, frames, dim)
    moved = features.gather(2, index)
    if fill == "edge":
        return moved
    lowest = features.reshape(batch, -1).amin(dim=1)[:, None, None]
    return torch.where(inside[:, None, :], moved, lowest.expand_as(moved))


@register_augmentation("mel_shift")
class MelShift(Transform[MelShiftConfig, MelShiftParams]):
    """Each example shifted by a random whole number of mel bands (a pitch shift, roughly)."""

    config_class = MelShiftConfig

    def sample(self, batch_size: int, frames: int, dim: int, generator: torch.Generator) -> MelShiftParams:
        """A shift in bands for each example (0 for those not drawn by ``p``)."""
        width = self.config.max_shift_bands
        drawn = random_integers(generator, torch.full((batch_size,), 2 * width, dtype=torch.int64)) - width
        applied = random_bernoulli(generator, (batch_size,), self.config.p)
        return MelShiftParams(torch.where(applied.to(drawn.device), drawn, torch.zeros_like(drawn)))

    def apply(self, features: Tensor, params: MelShiftParams) -> Tensor:
        """Features ``(batch, frames, dim)`` with each example's shift applied."""
        if params.shift_bands.shape != (features.shape[0],):
            raise ValueError(
                f"mel_shift parameters are for {tuple(params.shift_bands.shape)} examples, "
                f"the features have {features.shape[0]}"
            )
        return shift_bands(features, params.shift_bands, fill=self.config.fill)
