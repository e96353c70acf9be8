"""``resnet`` and ``se_resnet``: residual CNNs of basic blocks on log-mel spectrograms.

A 3×3 stem conv and 2×2 average pooling (or, with ``stem: stride``, a stride-2 stem conv), then
stages of basic blocks (two 3×3 convs with a shortcut); every stage after the first halves time
and frequency with a strided first block.
``se_resnet`` adds squeeze-and-excitation to every block (the SE-ResNets of the FSDKaggle2018
14th-place system). The defaults, ResNet-18 layout (2 blocks in each of 4 stages) at a quarter
of the width (16-32-64-128 channels), have about 0.70 M parameters (0.71 M with SE).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from torch import Tensor, nn

from earmark.config import ConfigError, Range
from earmark.models.base import MelInput, TaggerModel, require_logmel
from earmark.models.cnn import scale_channels
from earmark.models.masking import masked_mean, run_masked
from earmark.models.pooling import Channels, HeadConfig, WidthMultiplier
from earmark.models.registry import register_model
from earmark.spec import TaggingSpec

__all__ = ["BasicBlock", "ResNetConfig", "ResNetTagger", "SeResNetConfig", "SqueezeExcitation"]


@dataclasses.dataclass(frozen=True)
class ResNetConfig(HeadConfig):
    """Options of ``resnet``.

    Parameters
    ----------
    channels
        Channels of each stage before scaling (the stem has those of the first stage).
    blocks
        Basic blocks in each stage (same length as ``channels``).
    width_multiplier
        Scales every entry of ``channels``.
    squeeze_excitation
        Add squeeze-and-excitation to every block (what ``se_resnet`` does).
    se_reduction
        Channel reduction inside the squeeze-and-excitation bottleneck.
    input_norm
        Batch-normalise each mel band of the input.
    stem
        How the stem halves time and frequency: ``pool`` (a 3×3 conv at full resolution, then
        2×2 average pooling) or ``stride`` (the 3×3 conv with stride 2: a quarter of the stem's
        cost, and no batch norm or activation at full resolution).

    """

    channels: tuple[Channels, ...] = (64, 128, 256, 512)
    blocks: tuple[Annotated[int, Range(gt=0, le=64)], ...] = (2, 2, 2, 2)
    width_multiplier: WidthMultiplier = 0.25
    squeeze_excitation: bool = False
    se_reduction: Annotated[int, Range(gt=0, le=1024)] = 8
    input_norm: bool = True
    stem: Literal["pool", "stride"] = "pool"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stem not in ("pool", "stride"):
            raise ConfigError(f"stem must be 'pool' or 'stride', got {self.stem!r}")
        if not self.channels:
            raise ConfigError("channels must be a non-empty list of positive integers, got []")
        if len(self.blocks) != len(self.channels):
            raise ConfigError(
                f"blocks must list a positive count for each of the {len(self.channels)} stages, "
                f"got {self.blocks}"
            )

    @property
    def downsampling(self) -> int:
        """Factor by which time and frequency shrink (stem pooling and strided stages)."""
        return int(2 ** len(self.channels))


@dataclasses.dataclass(frozen=True)
class SeResNetConfig(ResNetConfig):
    """Options of ``se_resnet``: those of ``resnet`` with squeeze-and-excitation on."""

    squeeze_excitation: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.squeeze_excitation:
            raise ConfigError("se_resnet always uses squeeze_excitation; use model 'resnet' without it")


class SqueezeExcitation(nn.Module):
    """Channel gates from globally pooled maps: ``x · σ(W₂ ReLU(W₁ mean(x)))``."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, maps: Tensor) -> Tensor:
        """Gated maps, same shape."""
        gates: Tensor = self.gate(maps)
        return maps * gates

    def forward_masked(self, maps: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Gated maps, the channel means taken over the valid frames only."""
        pooled = masked_mean(maps, lengths, dim=2).mean(dim=2, keepdim=True).unsqueeze(3)
        gates: Tensor = self.gate[1:](pooled)  # the gate's own average pooling is replaced
        return maps * gates, lengths


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers, optional SE, plus a shortcut (1×1 conv-BN when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, se_reduction: int | None) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            SqueezeExcitation(out_channels, se_reduction) if se_reduction else nn.Identity(),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, maps: Tensor) -> Tensor:
        """Output maps ``(B, out, ceil(T / stride), ceil(F / stride))``."""
        summed: Tensor = self.residual(maps) + self.shortcut(maps)
        activated: Tensor = self.activation(summed)
        return activated

    def forward_masked(self, maps: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Output maps and their valid time lengths (padding zeroed before each conv)."""
        residual, out_lengths = run_masked(self.residual, maps, lengths)
        if isinstance(self.shortcut, nn.Sequential):
            shortcut, _ = run_masked(self.shortcut, maps, lengths)
        else:
            shortcut = maps
        activated: Tensor = self.activation(residual + shortcut)
        return activated, out_lengths


class ResNetTagger(TaggerModel):
    """The ``resnet`` / ``se_resnet`` model: stem, residual stages, frequency mean, pooling."""

    def __init__(self, *, num_classes: int, n_mels: int, config: ResNetConfig) -> None:
        super().__init__(num_classes=num_classes, input_dim=n_mels, min_frames=config.downsampling)
        self.config = config
        channels = scale_channels(config.channels, config.width_multiplier)
        se_reduction = config.se_reduction if config.squeeze_excitation else None
        self.input = MelInput(n_mels, config.input_norm)
        strided = config.stem == "stride"
        self.stem = nn.Sequential(
            nn.Conv2d(1, channels[0], 3, stride=2 if strided else 1, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
            *([] if strided else [nn.AvgPool2d(2)]),
        )
        layers: list[nn.Module] = []
        in_channels = channels[0]
        for stage, (out_channels, count) in enumerate(zip(channels, config.blocks, strict=True)):
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(BasicBlock(in_channels, out_channels, stride, se_reduction))
                in_channels = out_channels
        self.stages = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        self.pooling = config.pooling_head(channels[-1], num_classes)

    def embed(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame embeddings ``(batch, ~frames / 16, channels[-1])`` (with four stages)."""
        maps, lengths = run_masked(self.stem, self.input(features), lengths)
        maps, lengths = run_masked(self.stages, maps, lengths)
        embeddings: Tensor = self.dropout(maps.mean(dim=3).transpose(1, 2))
        return embeddings, lengths


def _build(spec: TaggingSpec, config: ResNetConfig, name: str) -> ResNetTagger:
    n_mels = require_logmel(spec, name, min_mel_bands=config.downsampling)
    return ResNetTagger(num_classes=spec.num_classes, n_mels=n_mels, config=config)


@register_model("resnet", ResNetConfig)
def build_resnet(spec: TaggingSpec, config: ResNetConfig) -> ResNetTagger:
    """Build ``resnet`` for a log-mel spec with at least ``2 ** len(channels)`` mel bands."""
    return _build(spec, config, "resnet")


@register_model("se_resnet", SeResNetConfig)
def build_se_resnet(spec: TaggingSpec, config: SeResNetConfig) -> ResNetTagger:
    """Build ``se_resnet`` (``resnet`` with squeeze-and-excitation)."""
    return _build(spec, config, "se_resnet")
