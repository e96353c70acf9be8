"""``cnn``: the FSDKaggle2019 baseline CNN on log-mel spectrograms, scaled for CPUs.

Four blocks of (3×3 conv, batch norm, ReLU) × 2 then 2×2 average pooling; frequency is then
averaged away and the per-frame embeddings go to the clip pooling head. The baseline used
64-128-256-512 channels (about 4.7 M parameters); the default ``width_multiplier`` of 0.375
gives 24-48-96-192 channels, about 0.66 M parameters, fast enough to train on ESC-10 on two CPU
cores in minutes. :class:`ConvTrunk` is shared with ``crnn``.
"""

from __future__ import annotations

import dataclasses
import itertools

from torch import Tensor, nn

from earmark.config import ConfigError
from earmark.models.base import MelInput, TaggerModel, require_logmel
from earmark.models.masking import run_masked
from earmark.models.pooling import Channels, HeadConfig, WidthMultiplier
from earmark.models.registry import register_model
from earmark.spec import TaggingSpec

__all__ = ["CnnConfig", "CnnTagger", "ConvBlock", "ConvTrunk", "scale_channels"]


def scale_channels(channels: tuple[int, ...], width_multiplier: float) -> tuple[int, ...]:
    """``channels`` times ``width_multiplier``, rounded, at least 1 each."""
    return tuple(max(1, round(c * width_multiplier)) for c in channels)


@dataclasses.dataclass(frozen=True)
class CnnConfig(HeadConfig):
    """Options of ``cnn`` (and of the trunk of ``crnn``).

    Parameters
    ----------
    channels
        Output channels of each conv block before scaling; one block each, each halving time
        and frequency.
    width_multiplier
        Scales every entry of ``channels``.
    input_norm
        Batch-normalise each mel band of the input.

    """

    channels: tuple[Channels, ...] = (64, 128, 256, 512)
    width_multiplier: WidthMultiplier = 0.375
    input_norm: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.channels:
            raise ConfigError("channels must be a non-empty list of positive integers, got []")


class ConvBlock(nn.Module):
    """(3×3 conv, BN, ReLU) × 2 then 2×2 average pooling: ``(B, in, T, F)`` → ``(B, out, T/2, F/2)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.AvgPool2d(2),
        )

    def forward(self, images: Tensor) -> Tensor:
        """Downsampled feature maps."""
        maps: Tensor = self.layers(images)
        return maps

    def forward_masked(self, images: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Downsampled maps and their valid time lengths (padding zeroed before each conv)."""
        return run_masked(self.layers, images, lengths)


class ConvTrunk(nn.Module):
    """Log-mel ``(B, T, n_mels)`` → per-frame embeddings ``(B, T // 2**blocks, channels[-1])``."""

    def __init__(self, n_mels: int, channels: tuple[int, ...], input_norm: bool) -> None:
        super().__init__()
        self.input = MelInput(n_mels, input_norm)
        widths = (1, *channels)
        self.blocks = nn.Sequential(*(ConvBlock(a, b) for a, b in itertools.pairwise(widths)))
        self.out_channels = channels[-1]
        self.downsampling = 2 ** len(channels)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Embeddings ``(batch, frames_out, out_channels)`` and their valid lengths."""
        maps, lengths = run_masked(self.blocks, self.input(features), lengths)
        return maps.mean(dim=3).transpose(1, 2), lengths


class CnnTagger(TaggerModel):
    """The ``cnn`` model: :class:`ConvTrunk`, dropout, clip pooling."""

    def __init__(self, *, num_classes: int, n_mels: int, config: CnnConfig) -> None:
        channels = scale_channels(config.channels, config.width_multiplier)
        super().__init__(num_classes=num_classes, input_dim=n_mels, min_frames=2 ** len(channels))
        self.config = config
        self.trunk = ConvTrunk(n_mels, channels, config.input_norm)
        self.dropout = nn.Dropout(config.dropout)
        self.pooling = config.pooling_head(self.trunk.out_channels, num_classes)

    def embed(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame embeddings ``(batch, frames // 16, channels[-1])`` (with four blocks)."""
        embeddings, lengths = self.trunk(features, lengths)
        return self.dropout(embeddings), lengths


@register_model("cnn", CnnConfig)
def build_cnn(spec: TaggingSpec, config: CnnConfig) -> CnnTagger:
    """Build ``cnn`` for a log-mel spec with at least ``2 ** len(channels)`` mel bands."""
    n_mels = require_logmel(spec, "cnn", min_mel_bands=2 ** len(config.channels))
    return CnnTagger(num_classes=spec.num_classes, n_mels=n_mels, config=config)
