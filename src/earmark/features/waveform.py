"""Raw waveform as frames, for sample-level models: each frame is ``frame_samples`` samples."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import numpy as np

from earmark.config import Range
from earmark.features.frontend import Frontend, FrontendConfig, register_frontend

__all__ = ["Waveform", "WaveformConfig"]


@dataclasses.dataclass(frozen=True)
class WaveformConfig(FrontendConfig):
    """Frames of ``frame_samples`` consecutive samples; the last frame is zero-padded."""

    frame_samples: Annotated[int, Range(gt=0, le=1_048_576)] = 160


@register_frontend("waveform")
class Waveform(Frontend):
    """Reshapes samples ``(num_samples,)`` into frames ``(ceil(num_samples / F), F)``."""

    config_class = WaveformConfig
    config: WaveformConfig

    @property
    def dim(self) -> int:
        """Values per frame."""
        return self.config.frame_samples

    @property
    def frames_per_second(self) -> float:
        """Frames per second of audio."""
        return self.config.sample_rate / self.config.frame_samples

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Frames ``(num_frames, dim)`` of one mono waveform ``(num_samples,)``."""
        size = self.config.frame_samples
        frames = np.zeros((self.num_frames(len(waveform)), size), dtype=np.float32)
        frames.reshape(-1)[: len(waveform)] = waveform
        return frames
