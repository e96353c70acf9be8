"""Front-ends turn a mono waveform into frames, and sit in a registry filled by a decorator.

A front-end is a small class with a ``name`` and a frozen config dataclass. The config round-trips
through YAML (``{"name": "logmel", ...fields}``) and its hash is what a feature store and a
:class:`~earmark.spec.TaggingSpec` compare: features computed with another config are never
mixed in silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, TypeVar

import numpy as np

from earmark.config import ConfigError, Range, check_ranges, to_dict
from earmark.registry import Registry

__all__ = [
    "FRONTENDS",
    "Frontend",
    "FrontendConfig",
    "SampleRate",
    "build_frontend",
    "config_hash",
    "frames_per_second",
    "frontend_config_from_dict",
    "frontend_config_to_dict",
    "register_frontend",
]


#: A sample rate in Hz, from telephone-grade audio up to 768 kHz.
SampleRate = Annotated[int, Range(ge=1000, le=768_000)]


@dataclasses.dataclass(frozen=True)
class FrontendConfig:
    """Base of every front-end config: the rate the audio is resampled to, in Hz."""

    sample_rate: SampleRate = 16000  # Hz the audio is resampled to before the front-end

    def __post_init__(self) -> None:
        check_ranges(self, key="frontend")

    def to_config_dict(self) -> dict[str, Any]:
        """``{"name": ..., **fields}``: the YAML form, naming the front-end."""
        return frontend_config_to_dict(self)

    @classmethod
    def from_config_dict(cls, data: Mapping[str, Any], *, key: str = "frontend") -> FrontendConfig:
        """Build the front-end config that ``data["name"]`` names."""
        return frontend_config_from_dict(data, key=key)


class Frontend(ABC):
    """Computes frames of shape ``(num_frames, dim)`` from a mono float32 waveform."""

    name: ClassVar[str]
    config_class: ClassVar[type[FrontendConfig]]
    #: True when features come precomputed with the data (no audio is decoded).
    precomputed: ClassVar[bool] = False

    def __init__(self, config: FrontendConfig) -> None:
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}")
        self.config = config

    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature values per frame."""

    @property
    @abstractmethod
    def frames_per_second(self) -> float:
        """Frame rate in frames per second of audio."""

    @abstractmethod
    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Frames ``(num_frames, dim)`` float32 of one mono waveform ``(num_samples,)``."""

    def compute_batch(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Frames of several waveforms (front-ends override this to batch the work)."""
        return [self.compute(w) for w in waveforms]

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a waveform of ``num_samples`` samples."""
        return int(np.ceil(num_samples * self.frames_per_second / self.config.sample_rate))


#: Registered front-ends: name -> class, each entry with the class's ``config_class``.
FRONTENDS: Registry[type[Frontend]] = Registry("front-end")

F = TypeVar("F", bound=type[Frontend])


def register_frontend(name: str) -> Callable[[F], F]:
    """Class decorator adding a front-end to :data:`FRONTENDS` under ``name``."""

    def decorate(cls: F) -> F:
        FRONTENDS.add(name, cls, cls.config_class)
        cls.name = name
        return cls

    return decorate


def frontend_name(config: FrontendConfig) -> str:
    """The registered name whose config class ``config`` is."""
    for name, cls in FRONTENDS.items():
        if type(config) is cls.config_class:
            return name
    raise ConfigError(f"{type(config).__name__} belongs to no registered front-end")


def frontend_config_to_dict(config: FrontendConfig) -> dict[str, Any]:
    """``{"name": ..., **fields}``: the YAML form of a front-end config."""
    fields = {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    return {"name": frontend_name(config), **fields}


def frontend_config_from_dict(data: Mapping[str, Any], *, key: str = "frontend") -> FrontendConfig:
    """Build a front-end config from its YAML form; the ``name`` key picks the class."""
    if not isinstance(data, Mapping) or "name" not in data:
        raise ConfigError(f"{key} must be a mapping with a 'name' key")
    fields = dict(data)
    config: FrontendConfig = FRONTENDS.config(str(fields.pop("name")), fields, key=key)
    return config


def config_hash(config: FrontendConfig) -> str:
    """A short, stable hash of a front-end config (16 hex characters)."""
    text = json.dumps(frontend_config_to_dict(config), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def build_frontend(config: FrontendConfig) -> Frontend:
    """Instantiate the front-end whose config ``config`` is."""
    return FRONTENDS[frontend_name(config)](config)


def frames_per_second(config: FrontendConfig) -> float:
    """Frame rate of the front-end ``config`` describes, in frames per second of audio.

    Read from the config when it says (so a store of pretrained embeddings can be trained on
    without the package that computed them), else from the front-end itself.
    """
    rate = getattr(config, "frames_per_second", None)
    if isinstance(rate, int | float):
        return float(rate)
    return float(build_frontend(config).frames_per_second)
