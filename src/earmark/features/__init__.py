"""Audio decoding, front-ends (log-mel, waveform, precomputed embeddings) and the feature store."""

from earmark.features import aisfx as aisfx  # registers the "aisfx" front-end; aisfx loads lazily
from earmark.features.audio import AudioError, load_audio
from earmark.features.embeddings import Precomputed, PrecomputedConfig
from earmark.features.frontend import (
    FRONTENDS,
    Frontend,
    FrontendConfig,
    build_frontend,
    config_hash,
    frontend_config_from_dict,
    frontend_config_to_dict,
)
from earmark.features.logmel import LogMel, LogMelConfig, mel_filterbank
from earmark.features.waveform import Waveform, WaveformConfig

__all__ = [
    "FRONTENDS",
    "AudioError",
    "Frontend",
    "FrontendConfig",
    "LogMel",
    "LogMelConfig",
    "Precomputed",
    "PrecomputedConfig",
    "Waveform",
    "WaveformConfig",
    "build_frontend",
    "config_hash",
    "frontend_config_from_dict",
    "frontend_config_to_dict",
    "load_audio",
    "mel_filterbank",
]
