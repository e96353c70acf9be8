"""Random erasing (Zhong et al. 2020): one random rectangle per example, filled.

With probability ``p`` an example gets a rectangle of the frames × dim plane whose area is a
uniform fraction in ``[min_area_fraction, max_area_fraction]`` of the plane and whose aspect
ratio (frames / bins) is log-uniform in ``[min_aspect_ratio, 1 / min_aspect_ratio]``; sides are
clipped to the plane. It is filled with ``fill_value`` (``"constant"``), the example's mean
(``"mean"``) or Gaussian noise with the example's mean and standard deviation (``"noise"``).
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
    random_integers,
    random_uniform,
    register_augmentation,
)
from earmark.augment.specaugment import band_mask
from earmark.config import ConfigError, Probability, Range, check_ranges

__all__ = ["RandomErasing", "RandomErasingConfig", "RandomErasingParams"]


@dataclasses.dataclass(frozen=True)
class RandomErasingConfig:
    """Options of :class:`RandomErasing` (fields as in the module docstring)."""

    p: Probability = 0.5
    min_area_fraction: Probability = 0.02
    max_area_fraction: Probability = 0.25
    min_aspect_ratio: Annotated[float, Range(gt=0, le=1)] = 0.3
    fill: Literal["noise", "constant", "mean"] = "noise"  # noise, the mean or fill_value (constant)
    fill_value: Annotated[float, Range(ge=-10_000, le=10_000)] = 0.0

    def __post_init__(self) -> None:
        check_probability(self.p, "p")
        if not 0.0 <= self.min_area_fraction <= self.max_area_fraction <= 1.0:
            raise ConfigError(
                "need 0 <= min_area_fraction <= max_area_fraction <= 1, got "
                f"{self.min_area_fraction}, {self.max_area_fraction}"
            )
        if not 0.0 < self.min_aspect_ratio <= 1.0:
            raise ConfigError(f"min_aspect_ratio must be in (0, 1], got {self.min_aspect_ratio}")
        if self.fill not in ("noise", "constant", "mean"):
            raise ConfigError(f"fill must be 'noise', 'constant' or 'mean', got {self.fill!r}")
        check_ranges(self, key="erasing")


@dataclasses.dataclass(frozen=True)
class RandomErasingParams:
    """Where each example's rectangle lies, and the noise to fill it with.

    Rectangle starts and sizes are int64 ``(batch,)`` (zero size leaves the example untouched);
    ``noise`` is standard normal ``(batch, frames, dim)`` float32, empty unless ``fill`` is
    ``"noise"``.
    """

    frame_starts: Tensor
    frame_counts: Tensor
    bin_starts: Tensor
    bin_counts: Tensor
    noise: Tensor


@register_augmentation("erasing")
class RandomErasing(Transform[RandomErasingConfig, RandomErasingParams]):
    """One random rectangle per example, filled with noise, a constant or the mean."""

    config_class = RandomErasingConfig

    def sample(
        self, batch_size: int, frames: int, dim: int, generator: torch.Generator
    ) -> RandomErasingParams:
        """Rectangle positions and sizes, and the noise to fill them with."""
        config = self.config
        shape = (batch_size,)
        applied = random_bernoulli(generator, shape, config.p)
        area = random_uniform(generator, shape, config.min_area_fraction, config.max_area_fraction) * (
            frames * dim
        )
        log_ratio = random_uniform(
            generator, shape, math.log(config.min_aspect_ratio), -math.log(config.min_aspect_ratio)
        )
        ratio = torch.exp(log_ratio)
        frame_counts = torch.sqrt(area * ratio).round().to(torch.int64).clamp(0, frames)
        bin_counts = torch.sqrt(area / ratio).round().to(torch.int64).clamp(0, dim)
        frame_counts = torch.where(applied & (bin_counts > 0), frame_counts, torch.zeros_like(frame_counts))
        bin_counts = torch.where(frame_counts > 0, bin_counts, torch.zeros_like(bin_counts))
        frame_starts = random_integers(generator, frames - frame_counts)
        bin_starts = random_integers(generator, dim - bin_counts)
        if config.fill == "noise":
            noise = torch.randn((batch_size, frames, dim), generator=generator, device=generator.device)
        else:
            noise = torch.empty(0)
        return RandomErasingParams(frame_starts, frame_counts, bin_starts, bin_counts, noise)

    def apply(self, features: Tensor, params: RandomErasingParams) -> Tensor:
        """Features ``(batch, frames, dim)`` with each example's rectangle filled."""
        batch_size, frames, dim = features.shape
        if params.frame_starts.shape != (batch_size,):
            raise ValueError(
                f"erasing parameters are for {tuple(params.frame_starts.shape)} examples, "
                f"the features have {batch_size}"
            )
        device = features.device
        in_frames = band_mask(
            params.frame_starts.to(device)[:, None], params.frame_counts.to(device)[:, None], frames
        )
        in_bins = band_mask(params.bin_starts.to(device)[:, None], params.bin_counts.to(device)[:, None], dim)
        mask = in_frames[:, :, None] & in_bins[:, None, :]
        fill: Tensor
        if self.config.fill == "constant":
            fill = torch.full((), self.config.fill_value, dtype=features.dtype, device=device)
        elif self.config.fill == "mean":
            fill = features.mean(dim=(1, 2), keepdim=True)
        else:
            if params.noise.shape != features.shape:
                raise ValueError(
                    f"erasing noise has shape {tuple(params.noise.shape)}, features {tuple(features.shape)}"
                )
            mean = features.mean(dim=(1, 2), keepdim=True)
            std = features.std(dim=(1, 2), keepdim=True) if frames * dim > 1 else torch.zeros_like(mean)
            fill = mean + std * params.noise.to(device, features.dtype)
        return torch.where(mask, fill, features)
