"""Random circular shift along time, within each clip's valid frames.

Each example is rolled forward or back by a random share of its length, drawn uniformly from
``[-max_shift_fraction, max_shift_fraction]``: frame ``t`` of the output is frame
``(t - shift) mod length`` of the input, so nothing is lost and nothing is brought in. A
segment that covers its whole clip (ESC-10's 5 s clips in 5 s segments) otherwise shows the
network the same alignment in every epoch; random time shifts of the input are a standard
augmentation for environmental sounds (Piczak 2015 trained on shifted segments).

Where the position of the sound within a clip carries information, a roll destroys it: on
ESC-10 from scratch it cost about 6 points of validation accuracy (``benchmarks/RESULTS.md``).
Padded frames stay where they are: in training the roll happens inside each row's first
``lengths[i]`` frames (:meth:`TimeShift.apply_valid`, which the trainer calls with the batch's
lengths), so padding is never rolled into the middle of a clip.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import torch
from torch import Tensor

from earmark.augment.base import (
    Transform,
    check_probability,
    random_bernoulli,
    random_uniform,
    register_augmentation,
)
from earmark.config import Probability, Range, check_ranges

__all__ = ["TimeShift", "TimeShiftConfig", "TimeShiftParams", "roll_frames"]


@dataclasses.dataclass(frozen=True)
class TimeShiftConfig:
    """Options of :class:`TimeShift`.

    Parameters
    ----------
    max_shift_fraction
        The largest shift, as a share of the clip's valid length, forward or back (1 = anywhere).
    p
        Probability that an example is shifted (otherwise left as it is).

    """

    max_shift_fraction: Annotated[float, Range(ge=0, le=1)] = 1.0
    p: Probability = 1.0

    def __post_init__(self) -> None:
        check_ranges(self, key="time_shift")
        check_probability(self.p, "p")


@dataclasses.dataclass(frozen=True)
class TimeShiftParams:
    """``fraction``: float64 ``(batch,)``, each example's shift as a share of its length (+ = later)."""

    fraction: Tensor


def roll_frames(features: Tensor, shift: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Features ``(batch, frames, dim)`` with example ``i`` rolled by ``shift[i]`` frames.

    The roll is circular within the first ``lengths[i]`` frames (all frames when ``lengths`` is
    None); frames at or beyond ``lengths[i]`` are kept in place.
    """
    batch, frames, dim = features.shape
    device = features.device
    valid = _valid_frames(features, lengths)
    positions = torch.arange(frames, device=device)[None, :]
    within = positions < valid[:, None]
    source = torch.remainder(positions - shift.to(device, torch.int64)[:, None], valid[:, None])
    index = torch.where(within, source, positions.expand(batch, frames))
    return features.gather(1, index[:, :, None].expand(batch, frames, dim))


def _valid_frames(features: Tensor, lengths: Tensor | None) -> Tensor:
    """Int64 ``(batch,)`` on the features' device: ``lengths`` clamped to ``[1, frames]``, or all frames."""
    batch, frames, _ = features.shape
    if lengths is None:
        return torch.full((batch,), frames, dtype=torch.int64, device=features.device)
    return lengths.to(device=features.device, dtype=torch.int64).clamp(1, frames)


@register_augmentation("time_shift")
class TimeShift(Transform[TimeShiftConfig, TimeShiftParams]):
    """Each example rolled in time by a random share of its valid length."""

    config_class = TimeShiftConfig

    def sample(self, batch_size: int, frames: int, dim: int, generator: torch.Generator) -> TimeShiftParams:
        """A shift, as a share of the clip's length, for each example (0 for those not drawn by ``p``)."""
        width = self.config.max_shift_fraction
        drawn = random_uniform(generator, (batch_size,), -width, width)
        applied = random_bernoulli(generator, (batch_size,), self.config.p)
        return TimeShiftParams(torch.where(applied, drawn, torch.zeros_like(drawn)))

    def apply(self, features: Tensor, params: TimeShiftParams) -> Tensor:
        """Features ``(batch, frames, dim)``, every frame taken as valid, each example rolled."""
        return self.apply_valid(features, None, params)

    def apply_valid(self, features: Tensor, lengths: Tensor | None, params: TimeShiftParams) -> Tensor:
        """Features with each example rolled within its first ``lengths[i]`` frames."""
        batch = features.shape[0]
        if params.fraction.shape != (batch,):
            raise ValueError(
                f"time_shift parameters are for {tuple(params.fraction.shape)} examples, "
                f"the features have {batch}"
            )
        if lengths is not None and lengths.shape != (batch,):
            raise ValueError(f"time_shift needs one length per example ({batch}), got {tuple(lengths.shape)}")
        valid = _valid_frames(features, lengths)
        fraction = params.fraction.to(device=features.device, dtype=torch.float64)
        shift = torch.round(fraction * valid.to(torch.float64)).to(torch.int64)
        return roll_frames(features, shift, valid)
