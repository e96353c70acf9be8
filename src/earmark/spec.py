"""The tagging spec: the contract between data, features, models, strategies and metrics.

A :class:`TaggingSpec` names the classes (in order), the front-end config and its hash, and the
segment length a model sees. It is stored with every feature store and checkpoint; loading
either with a different spec is an error that says what differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from earmark.config import ConfigError
from earmark.errors import EarmarkError
from earmark.features.frontend import (
    FrontendConfig,
    config_hash,
    frontend_config_from_dict,
    frontend_config_to_dict,
)
from earmark.features.logmel import LogMelConfig

__all__ = ["SpecMismatchError", "TaggingSpec"]


class SpecMismatchError(EarmarkError):
    """Two specs (or a spec and a store / checkpoint) do not agree; the message lists how."""


@dataclasses.dataclass(frozen=True)
class TaggingSpec:
    """Class names, front-end config and segment length of a tagging task.

    Parameters
    ----------
    class_names
        The vocabulary, in the column order of every label and score matrix.
    frontend
        The front-end config that produced the features.
    segment_frames
        Frames in one training / inference segment (e.g. 128 in the FSDKaggle2019 system).

    """

    class_names: tuple[str, ...]
    frontend: FrontendConfig = dataclasses.field(default_factory=LogMelConfig)
    segment_frames: int = 128

    def __post_init__(self) -> None:
        names = tuple(self.class_names)
        object.__setattr__(self, "class_names", names)
        if not names:
            raise ConfigError("a TaggingSpec needs at least one class name")
        if any(not isinstance(n, str) or not n for n in names):
            raise ConfigError("class names must be non-empty strings")
        seen: set[str] = set()
        duplicates = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
        if duplicates:
            raise ConfigError(f"duplicated class names: {', '.join(duplicates)}")
        if self.segment_frames <= 0:
            raise ConfigError(f"segment_frames must be positive, got {self.segment_frames}")

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def sample_rate(self) -> int:
        """Sample rate of the audio the front-end reads, in Hz."""
        return self.frontend.sample_rate

    @property
    def frontend_hash(self) -> str:
        """Hash of the front-end config; stores and checkpoints must carry the same."""
        return config_hash(self.frontend)

    def class_index(self, name: str) -> int:
        """Column of class ``name``; an unknown class raises with the vocabulary listed."""
        try:
            return self.class_names.index(name)
        except ValueError:
            raise ConfigError(
                f"unknown class {name!r}; the spec has {self.num_classes} classes: "
                f"{', '.join(self.class_names[:20])}{' …' if self.num_classes > 20 else ''}"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """YAML / JSON-safe form, including the front-end hash for reference."""
        return {
            "class_names": list(self.class_names),
            "frontend": frontend_config_to_dict(self.frontend),
            "frontend_hash": self.frontend_hash,
            "segment_frames": self.segment_frames,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaggingSpec:
        """Inverse of :meth:`to_dict`; a stored hash that does not match the config is an error."""
        known = {"class_names", "frontend", "frontend_hash", "segment_frames"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown spec key {', '.join(unknown)}")
        if "class_names" not in data:
            raise ConfigError("spec is missing 'class_names'")
        frontend = frontend_config_from_dict(data.get("frontend", {"name": "logmel"}))
        spec = cls(
            class_names=tuple(data["class_names"]),
            frontend=frontend,
            segment_frames=int(data.get("segment_frames", 128)),
        )
        stored = data.get("frontend_hash")
        if stored is not None and stored != spec.frontend_hash:
            raise SpecMismatchError(
                f"stored front-end hash {stored} does not match its config ({spec.frontend_hash})"
            )
        return spec

    def differences(self, other: TaggingSpec) -> list[str]:
        """Human-readable differences between this spec and ``other`` (empty when equal)."""
        out: list[str] = []
        if self.class_names != other.class_names:
            mine, theirs = set(self.class_names), set(other.class_names)
            if mine == theirs:
                out.append("the same classes in a different order")
            else:
                out.append(
                    f"classes differ (only here: {sorted(mine - theirs)[:5]}, "
                    f"only there: {sorted(theirs - mine)[:5]})"
                )
        if self.frontend_hash != other.frontend_hash:
            a, b = frontend_config_to_dict(self.frontend), frontend_config_to_dict(other.frontend)
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            out.append(
                "front-end differs in " + ", ".join(f"{k} ({a.get(k)!r} vs {b.get(k)!r})" for k in keys)
            )
        if self.segment_frames != other.segment_frames:
            out.append(f"segment_frames {self.segment_frames} vs {other.segment_frames}")
        return out

    def check_compatible(self, other: TaggingSpec, *, what: str = "other spec") -> None:
        """Raise :class:`SpecMismatchError` unless ``other`` equals this spec."""
        diffs = self.differences(other)
        if diffs:
            raise SpecMismatchError(f"{what} does not match the spec: " + "; ".join(diffs))

    def check_frontend(self, frontend: FrontendConfig, *, what: str = "the features") -> None:
        """Raise :class:`SpecMismatchError` unless ``frontend`` is this spec's front-end.

        For features made elsewhere (a feature store's ``frontend``, a streamed file's): only the
        front-end has to agree, not the classes or the segment length.
        """
        if config_hash(frontend) != self.frontend_hash:
            other = dataclasses.replace(self, frontend=frontend)
            raise SpecMismatchError(f"{what} do not match the spec: " + "; ".join(self.differences(other)))

    def with_classes(self, class_names: Sequence[str]) -> TaggingSpec:
        """The same spec with another vocabulary."""
        return dataclasses.replace(self, class_names=tuple(class_names))
