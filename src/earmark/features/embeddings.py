"""Precomputed embedding front-ends: features that come with a data set instead of audio.

OpenMIC-2018 and AudioSet ship VGGish embeddings (128 values per 0.96 s, quantised to uint8).
Their loaders hand the frames to the feature store directly; this front-end only describes them,
so a store and a spec can check that they agree.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import numpy as np

from earmark.config import Range
from earmark.features.frontend import Frontend, FrontendConfig, register_frontend

__all__ = ["VGGISH_QUANTIZATION_RANGE", "Precomputed", "PrecomputedConfig", "dequantize_uint8"]

#: VGGish post-processing clips embeddings to this range before quantising to 0..255.
VGGISH_QUANTIZATION_RANGE = (-2.0, 2.0)


def dequantize_uint8(
    frames: np.ndarray, value_range: tuple[float, float] = VGGISH_QUANTIZATION_RANGE
) -> np.ndarray:
    """Map uint8 codes 0..255 linearly back onto ``value_range`` as float32."""
    low, high = value_range
    return (np.asarray(frames, dtype=np.float32) * ((high - low) / 255.0) + low).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class PrecomputedConfig(FrontendConfig):
    """Embeddings computed elsewhere: their source, size and frame duration in seconds.

    Attributes
    ----------
    source : what computed them (``vggish`` for AudioSet's released embeddings).
    dim : values per frame.
    frame_seconds : seconds of audio per frame.
    dequantized : the stored values are dequantized floats (AudioSet ships uint8 bytes).

    """

    source: str = "vggish"
    dim: Annotated[int, Range(gt=0, le=1_048_576)] = 128
    frame_seconds: Annotated[float, Range(gt=0, le=3600)] = 0.96
    dequantized: bool = True


@register_frontend("precomputed")
class Precomputed(Frontend):
    """Describes precomputed frames; it cannot compute features from audio."""

    config_class = PrecomputedConfig
    config: PrecomputedConfig
    precomputed = True

    @property
    def dim(self) -> int:
        """Values per frame."""
        return self.config.dim

    @property
    def frames_per_second(self) -> float:
        """Frames per second of audio."""
        return 1.0 / self.config.frame_seconds

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Frames ``(num_frames, dim)`` of one mono waveform ``(num_samples,)``."""
        raise ValueError(
            f"{self.config.source} embeddings are precomputed by the data set; they cannot be "
            "computed from audio here. Prepare the data set with its own loader."
        )
