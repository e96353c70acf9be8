"""The interface every batch augmentation follows, its registry and shared random draws.

As in audiomentations, drawing the random parameters is separate from applying them: a
transform's :meth:`~Transform.sample` draws parameters for a batch from a ``torch.Generator``
passed in (never global random state), :meth:`~Transform.apply` applies given parameters
deterministically, and calling the transform does both. So two views of a batch can share or
differ in their parameters, and a seeded generator repeats a run exactly.

Transforms work on batched features ``(batch, frames, dim)``, return a new tensor of the same
shape and dtype, and never modify their input. Each has a frozen config dataclass, with units in
its field names, and is registered by name for recipes (:func:`build_augmentation`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import torch
from torch import Tensor

from earmark.config import ConfigError, from_dict
from earmark.registry import Registry

__all__ = [
    "AUGMENTATIONS",
    "Compose",
    "Transform",
    "build_augmentation",
    "check_batch",
    "check_probability",
    "random_bernoulli",
    "random_integers",
    "random_uniform",
    "register_augmentation",
]

C = TypeVar("C")
P = TypeVar("P")


class Transform(ABC, Generic[C, P]):
    """A random augmentation of batched features ``(batch, frames, dim)``.

    Parameters
    ----------
    config
        The transform's config; its defaults when omitted.

    """

    name: ClassVar[str]
    config_class: ClassVar[type[Any]]

    def __init__(self, config: C | None = None) -> None:
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {config!r}")
        self.config: C = config

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None = None) -> Transform[C, P]:
        """The transform with its config built strictly from ``options`` (unknown keys raise)."""
        return cls(from_dict(cls.config_class, options))

    @abstractmethod
    def sample(self, batch_size: int, frames: int, dim: int, generator: torch.Generator) -> P:
        """Draw the parameters for a batch of ``batch_size`` examples of ``(frames, dim)``."""

    @abstractmethod
    def apply(self, features: Tensor, params: P) -> Tensor:
        """Apply ``params`` to ``features`` ``(batch, frames, dim)``; a new tensor, same shape and dtype."""

    def apply_valid(self, features: Tensor, lengths: Tensor | None, params: P) -> Tensor:
        """Apply ``params`` to a padded batch whose row ``i`` has ``lengths[i]`` valid frames.

        What the trainer calls. A transform that would move padding into a clip (a shift in
        time) overrides it; the others act on every frame alike and ignore ``lengths``.
        """
        return self.apply(features, params)

    def __call__(self, features: Tensor, generator: torch.Generator) -> Tensor:
        """Sample parameters for ``features`` and apply them."""
        check_batch(features, type(self).__name__)
        batch_size, frames, dim = features.shape
        return self.apply(features, self.sample(batch_size, frames, dim, generator))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class Compose:
    """Transforms applied in order; parameters are drawn for all of them, in order, first.

    Parameters
    ----------
    transforms
        The transforms, first applied first.

    """

    def __init__(self, transforms: Sequence[Transform[Any, Any]]) -> None:
        self.transforms = tuple(transforms)

    def sample(self, batch_size: int, frames: int, dim: int, generator: torch.Generator) -> tuple[Any, ...]:
        """The parameters of every transform, in order."""
        return tuple(t.sample(batch_size, frames, dim, generator) for t in self.transforms)

    def apply(self, features: Tensor, params: Sequence[Any]) -> Tensor:
        """Apply each transform with its parameters."""
        if len(params) != len(self.transforms):
            raise ValueError(
                f"Compose has {len(self.transforms)} transforms but got {len(params)} parameters"
            )
        for transform, transform_params in zip(self.transforms, params, strict=True):
            features = transform.apply(features, transform_params)
        return features

    def __call__(self, features: Tensor, generator: torch.Generator) -> Tensor:
        """Sample parameters for ``features`` and apply every transform."""
        check_batch(features, "Compose")
        batch_size, frames, dim = features.shape
        return self.apply(features, self.sample(batch_size, frames, dim, generator))

    def __repr__(self) -> str:
        return f"Compose({list(self.transforms)!r})"


#: Registered transforms: name -> class, each entry with the class's ``config_class``.
AUGMENTATIONS: Registry[type[Transform[Any, Any]]] = Registry("augmentation")

T = TypeVar("T", bound=type[Transform[Any, Any]])


def register_augmentation(name: str) -> Callable[[T], T]:
    """Class decorator adding a transform to :data:`AUGMENTATIONS`; a duplicate name raises."""

    def decorate(cls: T) -> T:
        AUGMENTATIONS.add(name, cls, cls.config_class)
        cls.name = name
        return cls

    return decorate


def build_augmentation(name: str, options: Mapping[str, Any] | None = None) -> Transform[Any, Any]:
    """The transform registered as ``name`` with ``options``; unknown names or keys raise."""
    return AUGMENTATIONS[name](AUGMENTATIONS.config(name, options))


def check_batch(features: Tensor, who: str) -> None:
    """``ValueError`` unless ``features`` is a floating tensor ``(batch, frames, dim)``."""
    if not isinstance(features, Tensor) or features.dim() != 3:
        shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise ValueError(f"{who} needs features of shape (batch, frames, dim), got {shape}")
    if not features.is_floating_point():
        raise ValueError(f"{who} needs floating-point features, got {features.dtype}")


def check_probability(value: float, key: str) -> None:
    """``ConfigError`` naming ``key`` unless ``0 <= value <= 1``."""
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key} must be in [0, 1], got {value}")


def random_uniform(generator: torch.Generator, size: tuple[int, ...], low: float, high: float) -> Tensor:
    """Float64 values uniform in ``[low, high)`` on the generator's device."""
    values = torch.rand(size, generator=generator, device=generator.device, dtype=torch.float64)
    return low + (high - low) * values


def random_bernoulli(generator: torch.Generator, size: tuple[int, ...], p: float) -> Tensor:
    """Booleans, each True with probability ``p``."""
    return random_uniform(generator, size, 0.0, 1.0) < p


def random_integers(generator: torch.Generator, high: Tensor) -> Tensor:
    """Int64 values uniform in ``[0, high]`` (inclusive), one for each entry of ``high`` (int64 ≥ 0)."""
    values = random_uniform(generator, tuple(high.shape), 0.0, 1.0)
    drawn = torch.floor(values * (high.to(values.device, torch.float64) + 1.0)).to(torch.int64)
    return torch.minimum(drawn, high.to(drawn.device))
