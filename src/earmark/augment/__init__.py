"""Augmentations: SpecAugment, mixup, random erasing, random gain (batched) and crops (per clip).

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
from earmark.augment.crop import Crop, CropParams, RandomCrop, RandomCropConfig, crop_clip
from earmark.augment.erasing import RandomErasing, RandomErasingConfig, RandomErasingParams
from earmark.augment.gain import Gain, GainConfig, GainParams, gain_offset
from earmark.augment.mixup import MixedBatch, Mixup, MixupConfig, MixupParams
from earmark.augment.specaugment import SpecAugment, SpecAugmentConfig, SpecAugmentParams, band_mask

__all__ = [
    "AUGMENTATIONS",
    "Compose",
    "Crop",
    "CropParams",
    "Gain",
    "GainConfig",
    "GainParams",
    "MixedBatch",
    "Mixup",
    "MixupConfig",
    "MixupParams",
    "RandomCrop",
    "RandomCropConfig",
    "RandomErasing",
    "RandomErasingConfig",
    "RandomErasingParams",
    "SpecAugment",
    "SpecAugmentConfig",
    "SpecAugmentParams",
    "Transform",
    "band_mask",
    "build_augmentation",
    "crop_clip",
    "gain_offset",
    "register_augmentation",
]
