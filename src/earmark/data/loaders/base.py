"""The loader registry: one loader per data-set layout, each producing a :class:`Manifest`.

A loader is a function from its frozen options dataclass to a manifest, registered under a
layout name with :func:`register_loader`. ``earmark prepare <layout>`` finds it here, builds its
options strictly from the command line or YAML, and calls it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from earmark.config import ConfigError, from_dict
from earmark.data.manifest import Manifest

__all__ = ["LOADERS", "LoaderEntry", "find_file", "load_dataset", "register_loader"]

OptionsT = TypeVar("OptionsT")


@dataclasses.dataclass(frozen=True)
class LoaderEntry(Generic[OptionsT]):
    """A registered loader: its layout name, options class and function."""

    name: str
    options_class: type[OptionsT]
    load: Callable[[OptionsT], Manifest]
    summary: str


LOADERS: dict[str, LoaderEntry[Any]] = {}


def register_loader(
    name: str, options_class: type[OptionsT]
) -> Callable[[Callable[[OptionsT], Manifest]], Callable[[OptionsT], Manifest]]:
    """Decorator registering ``load(options) -> Manifest`` for layout ``name``."""

    def decorate(load: Callable[[OptionsT], Manifest]) -> Callable[[OptionsT], Manifest]:
        if name in LOADERS:
            raise ValueError(f"loader {name!r} is already registered")
        summary = (load.__doc__ or "").strip().splitlines()[0] if load.__doc__ else ""
        LOADERS[name] = LoaderEntry(name, options_class, load, summary)
        return load

    return decorate


def load_dataset(layout: str, options: Mapping[str, Any]) -> Manifest:
    """Load the data set of ``layout`` with ``options`` (validated strictly)."""
    if layout not in LOADERS:
        raise ConfigError(f"unknown layout {layout!r}; known layouts: {', '.join(sorted(LOADERS))}")
    entry = LOADERS[layout]
    return entry.load(from_dict(entry.options_class, options, key=layout))


def find_file(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    """The first ``folder/stem + suffix`` that exists, or None."""
    for suffix in suffixes:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None
