"""SpecAugment time and frequency masks (Park et al. 2019), drawn per example.

Each mask covers a band of consecutive frames (time) or feature bins (frequency) across the
whole other axis, with a width drawn uniformly from ``0`` to the maximum and a start drawn
uniformly among the positions where it fits. The FSDKaggle2019 multi-stage system used one
frequency and one time mask, each up to 15 %, zero-filled: the defaults here.
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
from earmark.config import ConfigError, NonNegativeInt, Probability, Range, check_ranges

__all__ = ["SpecAugment", "SpecAugmentConfig", "SpecAugmentParams", "band_mask"]


@dataclasses.dataclass(frozen=True)
class SpecAugmentConfig:
    """Options of :class:`SpecAugment`.

    The maximum width of a mask is the smaller of its fraction of the axis (rounded down) and
    its absolute cap, of whichever are set.

    Parameters
    ----------
    time_masks, freq_masks
        Masks per example along time (frames) and frequency (feature bins).
    max_time_fraction, max_freq_fraction
        Maximum mask width as a fraction of the frames / bins, or None for no such limit.
    max_time_frames, max_freq_bins
        Maximum mask width in frames / bins, or None for no such limit.
    fill
        ``"zero"``, or ``"mean"`` for each example's mean value.
    p
        Probability that an example is masked at all.

    """

    time_masks: Annotated[int, Range(ge=0, le=100)] = 1
    max_time_fraction: Probability | None = 0.15
    max_time_frames: NonNegativeInt | None = None
    freq_masks: Annotated[int, Range(ge=0, le=100)] = 1
    max_freq_fraction: Probability | None = 0.15
    max_freq_bins: NonNegativeInt | None = None
    fill: Literal["zero", "mean"] = "zero"
    p: Probability = 1.0

    def __post_init__(self) -> None:
        if self.time_masks < 0 or self.freq_masks < 0:
            raise ConfigError(
                f"time_masks and freq_masks must be >= 0, got {self.time_masks}, {self.freq_masks}"
            )
        for key in ("max_time_fraction", "max_freq_fraction"):
            value = getattr(self, key)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(f"{key} must be in [0, 1], got {value}")
        for key in ("max_time_frames", "max_freq_bins"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ConfigError(f"{key} must be >= 0, got {value}")
        if self.fill not in ("zero", "mean"):
            raise ConfigError(f"fill must be 'zero' or 'mean', got {self.fill!r}")
        check_probability(self.p, "p")
        check_ranges(self, key="specaugment")

    def max_width(self, axis: Literal["time", "freq"], length: int) -> int:
        """The largest mask width along ``axis`` of ``length`` frames or bins."""
        fraction, cap = (
            (self.max_time_fraction, self.max_time_frames)
            if axis == "time"
            else (self.max_freq_fraction, self.max_freq_bins)
        )
        width = length
        if fraction is not None:
            width = min(width, int(fraction * length))
        if cap is not None:
            width = min(width, cap)
        return width


@dataclasses.dataclass(frozen=True)
class SpecAugmentParams:
    """Mask positions, int64 tensors ``(batch, masks)``: starts and widths in frames / bins."""

    time_starts: Tensor
    time_widths: Tensor
    freq_starts: Tensor
    freq_widths: Tensor


def band_mask(starts: Tensor, widths: Tensor, length: int) -> Tensor:
    """Boolean ``(batch, length)``: True inside any band ``[start, start + width)`` of a row.

    ``starts`` and ``widths`` are int64 ``(batch, bands)``.
    """
    positions = torch.arange(length, device=starts.device)[None, None, :]
    inside = (positions >= starts[:, :, None]) & (positions < (starts + widths)[:, :, None])
    return inside.any(dim=1)


def _draw_bands(
    generator: torch.Generator, batch_size: int, count: int, length: int, max_width: int, applied: Tensor
) -> tuple[Tensor, Tensor]:
    shape = (batch_size, count)
    widths = random_integers(generator, torch.full(shape, max_width, dtype=torch.int64))
    widths = widths * applied[:, None].to(widths.device)
    starts = random_integers(generator, length - widths)
    return starts, widths


@register_augmentation("specaugment")
class SpecAugment(Transform[SpecAugmentConfig, SpecAugmentParams]):
    """Time and frequency masks, drawn independently for each example."""

    config_class = SpecAugmentConfig

    def sample(self, batch_size: int, frames: int, dim: int, generator: torch.Generator) -> SpecAugmentParams:
        """Mask starts and widths for each example."""
        config = self.config
        applied = random_bernoulli(generator, (batch_size,), config.p)
        time_starts, time_widths = _draw_bands(
            generator, batch_size, config.time_masks, frames, config.max_width("time", frames), applied
        )
        freq_starts, freq_widths = _draw_bands(
            generator, batch_size, config.freq_masks, dim, config.max_width("freq", dim), applied
        )
        return SpecAugmentParams(time_starts, time_widths, freq_starts, freq_widths)

    def apply(self, features: Tensor, params: SpecAugmentParams) -> Tensor:
        """Features ``(batch, frames, dim)`` with the masked bands set to the fill value."""
        batch_size, frames, dim = features.shape
        if params.time_starts.shape[0] != batch_size or params.freq_starts.shape[0] != batch_size:
            raise ValueError(
                f"SpecAugment parameters are for {params.time_starts.shape[0]} examples, "
                f"the features have {batch_size}"
            )
        device = features.device
        time = band_mask(params.time_starts.to(device), params.time_widths.to(device), frames)
        freq = band_mask(params.freq_starts.to(device), params.freq_widths.to(device), dim)
        mask = time[:, :, None] | freq[:, None, :]
        if self.config.fill == "mean":
            fill = features.mean(dim=(1, 2), keepdim=True)
        else:
            fill = torch.zeros((), dtype=features.dtype, device=device)
        return torch.where(mask, fill, features)
