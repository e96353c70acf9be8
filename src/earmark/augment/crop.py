"""Crops of a fixed number of frames inside one clip, zero-padded when the clip is shorter.

The two policies of the FSDKaggle2018 14th-place system: ``"head"`` takes the start of the clip
("LH": the useful information tends to come first), ``"random"`` takes a crop anywhere inside it
("X" over many epochs). A clip shorter than the crop is zero-padded at the end, and the crop
reports how many of its frames are real. Clips are single arrays ``(frames, dim)``, numpy
(e.g. rows of a memory-mapped feature store; only the crop is read) or torch; the crop comes
back in the same kind and dtype.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import torch
from torch import Tensor

from earmark.config import ConfigError, from_dict

__all__ = ["Crop", "CropParams", "RandomCrop", "RandomCropConfig", "crop_clip"]

A = TypeVar("A", np.ndarray, Tensor)


@dataclasses.dataclass(frozen=True)
class RandomCropConfig:
    """Options of :class:`RandomCrop`: ``crop_frames`` per crop and the ``policy``."""

    crop_frames: int = 128
    policy: Literal["head", "random"] = "random"

    def __post_init__(self) -> None:
        if self.crop_frames <= 0:
            raise ConfigError(f"crop_frames must be positive, got {self.crop_frames}")
        if self.policy not in ("head", "random"):
            raise ConfigError(f"policy must be 'head' or 'random', got {self.policy!r}")


@dataclasses.dataclass(frozen=True)
class CropParams:
    """Where a crop starts in its clip, and how many of its frames come from the clip."""

    start: int
    valid_frames: int


@dataclasses.dataclass(frozen=True)
class Crop(Generic[A]):
    """A crop ``(crop_frames, dim)`` and its number of real (not padded) frames."""

    features: A
    valid_frames: int


def crop_clip(clip: A, start: int, length: int) -> A:
    """Frames ``[start, start + length)`` of ``clip`` ``(frames, dim)``, zero-padded past its end.

    Raises
    ------
    ValueError
        When ``clip`` is not 2-D or ``start`` is outside it.

    """
    if clip.ndim != 2:
        raise ValueError(f"a clip must have shape (frames, dim), got {tuple(clip.shape)}")
    frames = clip.shape[0]
    if not 0 <= start < max(frames, 1):
        raise ValueError(f"crop start {start} is outside the clip of {frames} frames")
    stop = min(frames, start + length)
    if isinstance(clip, Tensor):
        out = torch.zeros((length, clip.shape[1]), dtype=clip.dtype, device=clip.device)
    else:
        out = np.zeros((length, clip.shape[1]), dtype=clip.dtype)
    out[: stop - start] = clip[start:stop]
    return out


class RandomCrop:
    """Crops of ``crop_frames`` frames by the ``head`` or ``random`` policy.

    Parameters
    ----------
    config
        The crop options; the defaults when omitted.

    """

    config_class = RandomCropConfig

    def __init__(self, config: RandomCropConfig | None = None) -> None:
        self.config = RandomCropConfig() if config is None else config

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None = None) -> RandomCrop:
        """The crop with its config built strictly from ``options`` (unknown keys raise)."""
        return cls(from_dict(RandomCropConfig, options))

    def sample(self, num_frames: int, generator: torch.Generator) -> CropParams:
        """Where to crop a clip of ``num_frames`` frames.

        Raises
        ------
        ValueError
            When the clip has no frames.

        """
        if num_frames < 1:
            raise ValueError(f"cannot crop a clip of {num_frames} frames; a clip needs at least one frame")
        length = self.config.crop_frames
        slack = num_frames - length
        start = 0
        if self.config.policy == "random" and slack > 0:
            start = int(
                torch.randint(0, slack + 1, (1,), generator=generator, device=generator.device).item()
            )
        return CropParams(start=start, valid_frames=min(length, num_frames - start))

    def apply(self, clip: A, params: CropParams) -> Crop[A]:
        """The crop of ``clip`` ``(frames, dim)`` described by ``params``."""
        return Crop(crop_clip(clip, params.start, self.config.crop_frames), params.valid_frames)

    def __call__(self, clip: A, generator: torch.Generator) -> Crop[A]:
        """Sample a crop position for ``clip`` and crop it."""
        if clip.ndim != 2:
            raise ValueError(f"a clip must have shape (frames, dim), got {tuple(clip.shape)}")
        return self.apply(clip, self.sample(int(clip.shape[0]), generator))
