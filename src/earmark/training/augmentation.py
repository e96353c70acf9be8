"""Batch augmentation for training, built from the ``augment`` section of a recipe.

The section maps transform names (see :data:`earmark.augment.AUGMENTATIONS`) to their options,
applied in the order written; ``mixup`` also mixes the batch's ``positive`` targets and
``annotated`` masks, and ``time_shift`` rolls each clip within its valid frames. Example::

    augment:
      mixup: {alpha: 0.4}
      specaugment: {}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch

from earmark.batch import Batch
from earmark.config import ConfigError

__all__ = ["build_augment"]

Augment = Callable[[Batch, torch.Generator], Batch]


def build_augment(options: Mapping[str, Any]) -> Augment | None:
    """The augmentation a recipe asks for, or None when it asks for none."""
    from earmark.augment import Mixup, build_augmentation
    from earmark.augment.base import check_batch
    from earmark.augment.mixup import mixed_lengths

    if not options:
        return None
    if not isinstance(options, Mapping):
        raise ConfigError("augment must map transform names to their options")
    transforms = [build_augmentation(name, value or {}) for name, value in options.items()]

    def augment(batch: Batch, generator: torch.Generator) -> Batch:
        for transform in transforms:
            if isinstance(transform, Mixup):
                size, frames, dim = batch.features.shape
                params = transform.sample(size, frames, dim, generator)
                mixed = transform.mix(batch.features, batch.positive, batch.annotated, params)
                batch = dataclasses.replace(
                    batch,
                    features=mixed.features,
                    positive=mixed.positive,
                    annotated=mixed.annotated,
                    lengths=mixed_lengths(batch.valid_frames, params.weights, params.partners),
                )
            else:
                check_batch(batch.features, type(transform).__name__)
                size, frames, dim = batch.features.shape
                params = transform.sample(size, frames, dim, generator)
                batch = batch.with_features(transform.apply_valid(batch.features, batch.valid_frames, params))
        return batch

    return augment
