"""Augmentations: SpecAugment, mixup, random erasing, random gain, mel shift and time shift, on batches.

Every batched transform draws its random parameters from a ``torch.Generator`` passed in
(:meth:`~earmark.augment.base.Transform.sample`) separately from applying them
(:meth:`~earmark.augment.base.Transform.apply`); see :mod:`earmark.augment.base`.
"""

from earmark.augment.base import (
    AUGMENTATIONS,
    Compose,
    Transform,
    build_augmentation,
    register_augmentation,
)
from earmark.augment.erasing import RandomErasing, RandomErasingConfig, RandomErasingParams
from earmark.augment.gain import Gain, GainConfig, GainParams, gain_offset
from earmark.augment.mel_shift import MelShift, MelShiftConfig, MelShiftParams, shift_bands
from earmark.augment.mixup import MixedBatch, Mixup, MixupConfig, MixupParams
from earmark.augment.specaugment import SpecAugment, SpecAugmentConfig, SpecAugmentParams, band_mask
from earmark.augment.time_shift import TimeShift, TimeShiftConfig, TimeShiftParams, roll_frames

__all__ = [
    "AUGMENTATIONS",
    "Compose",
    "Gain",
    "GainConfig",
    "GainParams",
    "MelShift",
    "MelShiftConfig",
    "MelShiftParams",
    "MixedBatch",
    "Mixup",
    "MixupConfig",
    "MixupParams",
    "RandomErasing",
    "RandomErasingConfig",
    "RandomErasingParams",
    "SpecAugment",
    "SpecAugmentConfig",
    "SpecAugmentParams",
    "TimeShift",
    "TimeShiftConfig",
    "TimeShiftParams",
    "Transform",
    "band_mask",
    "build_augmentation",
    "gain_offset",
    "register_augmentation",
    "roll_frames",
    "shift_bands",
]
