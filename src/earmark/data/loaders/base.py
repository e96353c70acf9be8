"""The loader registry: one loader per data-set layout, each producing a :class:`Manifest`.

A loader is a function from its frozen options dataclass to a manifest, registered under a
layout name with :func:`register_loader`. ``earmark prepare <layout>`` finds it here, builds its
options strictly from the command line or YAML, and calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from earmark.data.manifest import Manifest
from earmark.registry import Registry

__all__ = ["LOADERS", "find_file", "load_dataset", "register_loader"]

OptionsT = TypeVar("OptionsT")

#: Registered loaders: layout name -> ``load(options)``, each entry with its options dataclass
#: and a summary (the first line of the function's docstring).
LOADERS: Registry[Callable[[Any], Manifest]] = Registry("layout")


def register_loader(
    name: str, options_class: type[OptionsT]
) -> Callable[[Callable[[OptionsT], Manifest]], Callable[[OptionsT], Manifest]]:
    """Decorator registering ``load(options) -> Manifest`` for layout ``name``."""
    return LOADERS.register(name, options_class)


def load_dataset(layout: str, options: Mapping[str, Any]) -> Manifest:
    """Load the data set of ``layout`` with ``options`` (validated strictly)."""
    return LOADERS[layout](LOADERS.config(layout, options, key=layout))


def find_file(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    """The first ``folder/stem + suffix`` that exists, or None."""
    for suffix in suffixes:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None
