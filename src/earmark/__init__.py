"""earmark: multi-label audio tagging when the labels are noisy, missing or folksonomy tags.

The public API is re-exported here; each name lives in its own module. The names are loaded on
first use (``earmark.Labels`` imports :mod:`earmark.data.labels` then), so ``import earmark``,
and the ``earmark`` command's light sub-commands (``--help``, ``info``, ``list``), start
without importing torch. To export a name, add it to :data:`_EXPORTS` (name → module) and to
the ``TYPE_CHECKING`` imports below, which type checkers and editors read.
"""

# ruff: noqa: F401  (the TYPE_CHECKING imports are the exports' types, read by type checkers)

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from earmark.api import Tagger, Tags, evaluate, load_run, prepare, train
    from earmark.config import ConfigError, dump_yaml, from_dict, load_yaml
    from earmark.data.labels import LabelError, Labels, LabelSummary
    from earmark.data.loaders import LOADERS, load_dataset
    from earmark.data.manifest import Manifest, PrecomputedFrames
    from earmark.data.table import read_labels, write_labels
    from earmark.errors import EarmarkError
    from earmark.features import (
        FRONTENDS,
        AudioError,
        LogMel,
        LogMelConfig,
        PrecomputedConfig,
        WaveformConfig,
        build_frontend,
        load_audio,
    )
    from earmark.features.store import FeatureStore, StoreError, StoreWriter, merge_stores
    from earmark.prepare import PrepareResult, merge_shards
    from earmark.spec import SpecMismatchError, TaggingSpec

__version__ = "0.1.0"

#: Public name → the module that defines it.
_EXPORTS: dict[str, str] = {
    "ConfigError": "earmark.config",
    "dump_yaml": "earmark.config",
    "from_dict": "earmark.config",
    "load_yaml": "earmark.config",
    "LabelError": "earmark.data.labels",
    "Labels": "earmark.data.labels",
    "LabelSummary": "earmark.data.labels",
    "LOADERS": "earmark.data.loaders",
    "load_dataset": "earmark.data.loaders",
    "Manifest": "earmark.data.manifest",
    "PrecomputedFrames": "earmark.data.manifest",
    "read_labels": "earmark.data.table",
    "write_labels": "earmark.data.table",
    "EarmarkError": "earmark.errors",
    "FRONTENDS": "earmark.features",
    "AudioError": "earmark.features",
    "LogMel": "earmark.features",
    "LogMelConfig": "earmark.features",
    "PrecomputedConfig": "earmark.features",
    "WaveformConfig": "earmark.features",
    "build_frontend": "earmark.features",
    "load_audio": "earmark.features",
    "FeatureStore": "earmark.features.store",
    "StoreError": "earmark.features.store",
    "StoreWriter": "earmark.features.store",
    "merge_stores": "earmark.features.store",
    "PrepareResult": "earmark.prepare",
    "merge_shards": "earmark.prepare",
    "prepare": "earmark.api",
    "Tagger": "earmark.api",
    "Tags": "earmark.api",
    "evaluate": "earmark.api",
    "load_run": "earmark.api",
    "train": "earmark.api",
    "SpecMismatchError": "earmark.spec",
    "TaggingSpec": "earmark.spec",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'earmark' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


class _Package(types.ModuleType):
    """The package object: an exported name wins over a submodule of the same name.

    Importing a submodule binds it on its package (``earmark.prepare`` the module); the export
    of that name (the function ``prepare``) stays what ``earmark.prepare`` gives, as it did
    when every name was imported eagerly.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
