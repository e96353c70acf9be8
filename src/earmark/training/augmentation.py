"""Batch augmentation for training, built from the ``augment`` section of a recipe."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from earmark.config import ConfigError
from earmark.training.batch import Batch

__all__ = ["build_augment"]

Augment = Callable[[Batch, torch.Generator], Batch]


def build_augment(options: Mapping[str, Any]) -> Augment | None:
    """The augmentation a recipe asks for, or None when it asks for none."""
    if not options:
        return None
    raise ConfigError(f"unknown augment keys {sorted(options)}")
