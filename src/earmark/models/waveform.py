"""``waveform``: a sample-level 1-D CNN on raw audio (Lee et al. 2017; Pons et al. 2018).

The feature store holds raw samples as frames of ``frame_samples`` values, so the input
``(batch, frames, frame_samples)`` is read as one signal ``(batch, 1, frames * frame_samples)``.
A first conv of 3 samples with stride 3, then blocks of (conv of 3, batch norm, ReLU, max
pooling by 3); each output position then sees ``3 ** (blocks + 1)`` samples, and the model
needs at least that many samples (``min_frames`` is that in frames). The defaults (Lee et al.'s
channel layout with 7 blocks, at a quarter width) have about 0.08 M parameters and see 6,561
samples (0.41 s at 16 kHz) per output position.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

from torch import Tensor, nn

from earmark.config import ConfigError
from earmark.models.base import TaggerModel, require_waveform
from earmark.models.cnn import scale_channels
from earmark.models.masking import run_masked
from earmark.models.pooling import Channels, HeadConfig, WidthMultiplier
from earmark.models.registry import register_model
from earmark.spec import TaggingSpec

__all__ = ["SampleBlock", "SampleCnnTagger", "WaveformModelConfig"]


@dataclasses.dataclass(frozen=True)
class WaveformModelConfig(HeadConfig):
    """Options of ``waveform``.

    Parameters
    ----------
    channels
        Channels of the strided first conv, then of each block (before scaling); the number of
        blocks is ``len(channels) - 1``.
    width_multiplier
        Scales every entry of ``channels``.

    """

    channels: tuple[Channels, ...] = (128, 128, 128, 256, 256, 256, 256, 512)
    width_multiplier: WidthMultiplier = 0.25

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.channels) < 2:
            raise ConfigError(
                "channels must list at least 2 positive integers (first conv and one block), "
                f"got {self.channels}"
            )

    @property
    def receptive_samples(self) -> int:
        """Samples that one output position sees, and the fewest samples the model accepts."""
        return int(3 ** len(self.channels))


class SampleBlock(nn.Module):
    """Conv of 3 samples, BN, ReLU, max pooling by 3: ``(B, in, L)`` → ``(B, out, L // 3)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm1d(out_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(3),
        )

    def forward(self, signal: Tensor) -> Tensor:
        """Downsampled maps."""
        maps: Tensor = self.layers(signal)
        return maps

    def forward_masked(self, signal: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Downsampled maps and their valid lengths (padding zeroed before the conv)."""
        return run_masked(self.layers, signal, lengths)


class SampleCnnTagger(TaggerModel):
    """The ``waveform`` model: strided conv, sample-level blocks, dropout, clip pooling."""

    def __init__(self, *, num_classes: int, frame_samples: int, config: WaveformModelConfig) -> None:
        min_frames = math.ceil(config.receptive_samples / frame_samples)
        super().__init__(num_classes=num_classes, input_dim=frame_samples, min_frames=min_frames)
        self.config = config
        channels = scale_channels(config.channels, config.width_multiplier)
        self.first = nn.Sequential(
            nn.Conv1d(1, channels[0], 3, stride=3, bias=False),
            nn.BatchNorm1d(channels[0]),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(*(SampleBlock(a, b) for a, b in itertools.pairwise(channels)))
        self.dropout = nn.Dropout(config.dropout)
        self.pooling = config.pooling_head(channels[-1], num_classes)

    def embed(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-position embeddings ``(batch, samples // 3 ** (blocks + 1), channels[-1])``."""
        signal = features.flatten(1).unsqueeze(1)
        samples = lengths * features.shape[2]
        maps, samples = run_masked(self.first, signal, samples)
        maps, samples = run_masked(self.blocks, maps, samples)
        embeddings: Tensor = self.dropout(maps.transpose(1, 2))
        return embeddings, samples


@register_model("waveform", WaveformModelConfig)
def build_waveform(spec: TaggingSpec, config: WaveformModelConfig) -> SampleCnnTagger:
    """Build ``waveform`` for a spec with the waveform front-end."""
    frontend = require_waveform(spec, "waveform")
    return SampleCnnTagger(num_classes=spec.num_classes, frame_samples=frontend.frame_samples, config=config)
