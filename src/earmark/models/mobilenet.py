"""``mobilenet``: MobileNetV1-style depthwise-separable CNN on log-mel spectrograms.

A 3×3 stem conv, then depthwise-separable blocks (3×3 depthwise conv-BN-ReLU, 1×1 pointwise
conv-BN-ReLU) in MobileNetV1's layout (64, 128/2, 128, 256/2, 256, 512/2, 512 ×5, 1024/2,
1024; "/2" marks a stride of 2 in time and frequency), as in the AudioSet skeptical-teacher
work; the fast choice for CPUs. At the default ``width_multiplier`` of 0.25 it has about 0.21 M
parameters and divides time and frequency by 16.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated

from torch import Tensor, nn

from earmark.config import ConfigError, Range
from earmark.models.base import MelInput, TaggerModel, require_logmel
from earmark.models.cnn import scale_channels
from earmark.models.masking import run_masked
from earmark.models.pooling import Channels, HeadConfig, WidthMultiplier
from earmark.models.registry import register_model
from earmark.spec import TaggingSpec

__all__ = ["DepthwiseSeparable", "MobileNetConfig", "MobileNetTagger"]


@dataclasses.dataclass(frozen=True)
class MobileNetConfig(HeadConfig):
    """Options of ``mobilenet``.

    Parameters
    ----------
    stem_channels
        Channels of the stem conv before scaling.
    channels
        Output channels of each depthwise-separable block before scaling.
    strides
        Stride (1 or 2, in time and frequency) of each block; same length as ``channels``.
    width_multiplier
        Scales the stem and every block.
    input_norm
        Batch-normalise each mel band of the input.

    """

    stem_channels: Channels = 32
    channels: tuple[Channels, ...] = (64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
    strides: tuple[Annotated[int, Range(ge=1, le=2)], ...] = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
    width_multiplier: WidthMultiplier = 0.25
    input_norm: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.channels:
            raise ConfigError("channels must list at least one block, got []")
        if len(self.strides) != len(self.channels):
            raise ConfigError(
                f"strides must give 1 or 2 for each of the {len(self.channels)} blocks, got {self.strides}"
            )

    @property
    def downsampling(self) -> int:
        """Factor by which time and frequency shrink (the product of the strides)."""
        return math.prod(self.strides)


class DepthwiseSeparable(nn.Module):
    """3×3 depthwise conv-BN-ReLU then 1×1 pointwise conv-BN-ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, maps: Tensor) -> Tensor:
        """Output maps ``(B, out, ceil(T / stride), ceil(F / stride))``."""
        out: Tensor = self.layers(maps)
        return out

    def forward_masked(self, maps: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Output maps and their valid time lengths (padding zeroed before the depthwise conv)."""
        return run_masked(self.layers, maps, lengths)


class MobileNetTagger(TaggerModel):
    """The ``mobilenet`` model: stem, depthwise-separable blocks, frequency mean, pooling."""

    def __init__(self, *, num_classes: int, n_mels: int, config: MobileNetConfig) -> None:
        super().__init__(num_classes=num_classes, input_dim=n_mels, min_frames=config.downsampling)
        self.config = config
        (stem,) = scale_channels((config.stem_channels,), config.width_multiplier)
        channels = scale_channels(config.channels, config.width_multiplier)
        self.input = MelInput(n_mels, config.input_norm)
        layers: list[nn.Module] = [
            nn.Conv2d(1, stem, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
        ]
        widths = (stem, *channels)
        for in_channels, out_channels, stride in zip(widths[:-1], widths[1:], config.strides, strict=True):
            layers.append(DepthwiseSeparable(in_channels, out_channels, stride))
        self.layers = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        self.pooling = config.pooling_head(channels[-1], num_classes)

    def embed(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame embeddings ``(batch, ~frames / 16, channels[-1])`` with the default strides."""
        maps, lengths = run_masked(self.layers, self.input(features), lengths)
        embeddings: Tensor = self.dropout(maps.mean(dim=3).transpose(1, 2))
        return embeddings, lengths


@register_model("mobilenet", MobileNetConfig)
def build_mobilenet(spec: TaggingSpec, config: MobileNetConfig) -> MobileNetTagger:
    """Build ``mobilenet`` for a log-mel spec with at least ``prod(strides)`` mel bands."""
    n_mels = require_logmel(spec, "mobilenet", min_mel_bands=config.downsampling)
    return MobileNetTagger(num_classes=spec.num_classes, n_mels=n_mels, config=config)
