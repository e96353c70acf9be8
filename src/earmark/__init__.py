"""earmark: multi-label audio tagging when the labels are noisy, missing or folksonomy tags.

The public API is re-exported here; each name lives in its own module.
"""

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
from earmark.prepare import PrepareResult, merge_shards, prepare
from earmark.spec import SpecMismatchError, TaggingSpec

__version__ = "0.1.0"

__all__ = [
    "FRONTENDS",
    "LOADERS",
    "AudioError",
    "ConfigError",
    "EarmarkError",
    "FeatureStore",
    "LabelError",
    "LabelSummary",
    "Labels",
    "LogMel",
    "LogMelConfig",
    "Manifest",
    "PrecomputedConfig",
    "PrecomputedFrames",
    "PrepareResult",
    "SpecMismatchError",
    "StoreError",
    "StoreWriter",
    "TaggingSpec",
    "WaveformConfig",
    "__version__",
    "build_frontend",
    "dump_yaml",
    "from_dict",
    "load_audio",
    "load_dataset",
    "load_yaml",
    "merge_shards",
    "merge_stores",
    "prepare",
    "read_labels",
    "write_labels",
]
