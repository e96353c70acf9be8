"""``aisfx_cnn``: aisfx's pretrained CNN fine-tuned end to end on its own log-mel input.

The input is the ``aisfx_mel`` front-end's spectrogram ``(frames, 96)``, 43.07 frames per
second. The network was trained on blocks of 100 frames (2.32 s), so the model cuts its input
into blocks of 100 frames every ``block_hop_frames`` (one block when the input is at most 100
frames long, e.g. a 2.32 s training segment), runs each block through the network (four blocks
of (3×3 conv, batch norm, ReLU) × 2, 2×2 max pooling after the first three, then the mean over
frequency and the max over time: 512 values per block), standardises the block embeddings with
a batch norm, and pools them over time with the configured clip pooling and a linear layer.

Padding. Frames at or beyond a row's ``lengths`` are set to zero, which in aisfx's
normalisation is digital silence: exactly what the aisfx front-end pads a clip's last, partial
block with. A row of ``L`` frames has ``1 + ceil(max(L - 100, 0) / block_hop_frames)`` valid
blocks; only those are run through the network (gathered from the padded batch, as the
frame-wise models do), and the pooling ignores the rest. So a padded clip scores exactly as the
clip alone, and an input shorter than a block is a block with silence after it.

Batch norm of the pretrained network. By default (``backbone_batchnorm: frozen``) its layers
stay in eval mode while the model trains: they normalise with the running statistics learned
on aisfx's large sound-effect libraries (their scale and shift are still fine-tuned). On a
small data set such as ESC-10 (320 training clips, batches of 16-32 blocks from ten classes)
batch statistics are noisy, and updating the running statistics from them would move every
layer's normalisation away from what the pretrained weights expect, while the learning rate of
those layers is deliberately low. ``train`` normalises with batch statistics as usual.

Learning rates. :meth:`AisfxCnnTagger.parameter_groups` puts the pretrained layers at
``backbone_lr_scale`` times ``optim.lr`` and the new head (embedding batch norm and linear
layer) at ``optim.lr``; ``backbone_lr_scale: 0`` freezes the network (no gradient is computed
through it).

The weights come from the optional package ``aisfx`` (``make install-aisfx``); building the
model without it raises :class:`~earmark.features.aisfx.AisfxUnavailableError` saying so.
``pretrained: false`` (random weights, any ``base_channels``) needs no package; it serves tests.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Iterator
from typing import Annotated, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional

from earmark.config import ConfigError, Probability, Range
from earmark.features.aisfx import (
    BLOCK_FRAMES,
    NUM_MELS,
    AisfxMelConfig,
    aisfx_checkpoint_path,
    load_aisfx_weights,
)
from earmark.models.base import TaggerModel, describe_frontend
from earmark.models.framewise import scatter_frames, valid_frames
from earmark.models.masking import zero_padding
from earmark.models.pooling import Channels, HeadConfig
from earmark.models.registry import register_model
from earmark.spec import TaggingSpec

__all__ = ["AisfxCnnConfig", "AisfxCnnTagger", "AisfxNetwork", "block_counts", "cut_blocks"]

#: Channels of the first block of the pretrained network (doubled in each of the next three).
PRETRAINED_BASE_CHANNELS = 64


@dataclasses.dataclass(frozen=True)
class AisfxCnnConfig(HeadConfig):
    """Options of ``aisfx_cnn``.

    Parameters
    ----------
    block_hop_frames
        Frames between the starts of consecutive 100-frame blocks of a longer input (50 =
        1.16 s, half a block, as the aisfx front-end).
    backbone_lr_scale
        Learning rate of the pretrained layers as a share of ``optim.lr`` (the head trains at
        ``optim.lr``); 0 freezes them.
    backbone_batchnorm
        ``frozen``: the network's batch norms keep their pretrained running statistics while
        training (see the module docstring); ``train``: batch statistics, as usual.
    pretrained
        Load aisfx's weights (needs the package); false gives random weights, for tests.
    base_channels
        Channels of the network's first block; must be 64 (aisfx's) when ``pretrained``.

    """

    block_hop_frames: Annotated[int, Range(ge=1, le=BLOCK_FRAMES)] = 50
    backbone_lr_scale: Probability = 0.1
    backbone_batchnorm: Literal["frozen", "train"] = "frozen"
    pretrained: bool = True
    base_channels: Channels = PRETRAINED_BASE_CHANNELS

    def __post_init__(self) -> None:
        super().__post_init__()  # the ranges declared above
        if self.backbone_batchnorm not in ("frozen", "train"):
            raise ConfigError(
                f"backbone_batchnorm must be 'frozen' or 'train', got {self.backbone_batchnorm!r}"
            )
        if self.pretrained and self.base_channels != PRETRAINED_BASE_CHANNELS:
            raise ConfigError(
                f"base_channels must be {PRETRAINED_BASE_CHANNELS} with pretrained weights, got "
                f"{self.base_channels} (set pretrained: false for a network of another width)"
            )


class _DoubleConv(nn.Module):
    """(3×3 conv, batch norm, ReLU) × 2, then ``pool`` × ``pool`` max pooling (none when 1)."""

    def __init__(self, in_channels: int, out_channels: int, pool: int) -> None:
        super().__init__()
        # names as in aisfx's checkpoint: conv1, bn1, conv2, bn2
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.pool = pool

    def forward(self, maps: Tensor) -> Tensor:
        """``(N, in, T, F)`` → ``(N, out, T // pool, F // pool)``."""
        maps = functional.relu(self.bn1(self.conv1(maps)))
        maps = functional.relu(self.bn2(self.conv2(maps)))
        return functional.max_pool2d(maps, self.pool) if self.pool > 1 else maps


class AisfxNetwork(nn.Module):
    """aisfx's embedding CNN: blocks ``(N, 100, 96)`` → embeddings ``(N, 8 × base_channels)``.

    Its parameter names match the ``embedding_net.`` entries of aisfx's checkpoint.
    """

    def __init__(self, base_channels: int = PRETRAINED_BASE_CHANNELS) -> None:
        super().__init__()
        widths = [1] + [base_channels * 2**k for k in range(4)]
        self.conv_block1 = _DoubleConv(widths[0], widths[1], pool=2)
        self.conv_block2 = _DoubleConv(widths[1], widths[2], pool=2)
        self.conv_block3 = _DoubleConv(widths[2], widths[3], pool=2)
        self.conv_block4 = _DoubleConv(widths[3], widths[4], pool=1)
        self.out_features = widths[4]

    def forward(self, blocks: Tensor) -> Tensor:
        """Embeddings ``(N, out_features)``: the mean over frequency, then the max over time."""
        # channels-last convolutions run faster on CPUs; the values are the same
        maps = blocks.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        for block in (self.conv_block1, self.conv_block2, self.conv_block3, self.conv_block4):
            maps = block(maps)
        return maps.mean(dim=3).amax(dim=2)


def block_counts(lengths: Tensor, hop_frames: int) -> Tensor:
    """Blocks of 100 frames every ``hop_frames`` covering each row's ``lengths``, at least one."""
    beyond = torch.clamp(lengths - BLOCK_FRAMES + hop_frames - 1, min=0)
    return 1 + torch.div(beyond, hop_frames, rounding_mode="floor")


def _cut_blocks(features: Tensor, block_frames: int, hop_frames: int) -> Tensor:
    frames = features.shape[1]
    count = 1 + max(frames - block_frames + hop_frames - 1, 0) // hop_frames
    padded = functional.pad(features, [0, 0, 0, (count - 1) * hop_frames + block_frames - frames])
    return padded.unfold(1, block_frames, hop_frames).transpose(2, 3)


@functools.cache
def _scripted_cut_blocks() -> Callable[[Tensor, int, int], Tensor]:
    with warnings.catch_warnings():  # torch.jit is deprecated but is what export_model traces with
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted: Callable[[Tensor, int, int], Tensor] = torch.jit.script(_cut_blocks)
    return scripted


def cut_blocks(features: Tensor, block_frames: int, hop_frames: int) -> Tensor:
    """``(batch, frames, mels)`` → ``(batch, blocks, block_frames, mels)``, the end padded with zeros.

    As many blocks as :func:`block_counts` gives for the whole input. Scripted (once, on first
    use) so that a traced, exported model keeps the block count a function of the input
    length, not a constant of the example it was traced with.
    """
    return _scripted_cut_blocks()(features, block_frames, hop_frames)


class AisfxCnnTagger(TaggerModel):
    """The ``aisfx_cnn`` model: 100-frame blocks → aisfx's CNN → batch norm → clip pooling."""

    def __init__(self, *, num_classes: int, config: AisfxCnnConfig) -> None:
        super().__init__(num_classes=num_classes, input_dim=NUM_MELS, min_frames=1)
        self.config = config
        self.hop_frames = config.block_hop_frames
        self.backbone = AisfxNetwork(config.base_channels)
        if config.pretrained:
            checkpoint = aisfx_checkpoint_path("model 'aisfx_cnn' (pretrained: true)")
            self.backbone.load_state_dict(load_aisfx_weights(checkpoint), strict=True)
        if config.backbone_lr_scale == 0.0:
            self.backbone.requires_grad_(False)
        self.embedding_norm = nn.BatchNorm1d(self.backbone.out_features)
        self.dropout = nn.Dropout(config.dropout)
        self.pooling = config.pooling_head(self.backbone.out_features, num_classes)

    def embed(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Block embeddings ``(batch, blocks, 512)``, zero beyond the valid blocks, and their counts."""
        silent = zero_padding(features, lengths, time_dim=1)
        blocks = cut_blocks(silent, BLOCK_FRAMES, self.hop_frames)  # (batch, blocks, 100, mels)
        counts = block_counts(lengths, self.hop_frames)
        batch, num_blocks = blocks.shape[0], blocks.shape[1]
        flat, mask = valid_frames(blocks.reshape(batch, num_blocks, -1), counts)
        embeddings = self.backbone(flat.reshape(-1, BLOCK_FRAMES, blocks.shape[3]))
        embeddings = self.dropout(self.embedding_norm(embeddings))
        return scatter_frames(embeddings, mask, (batch, num_blocks)), counts

    def train(self, mode: bool = True) -> AisfxCnnTagger:
        """Training mode, the backbone's batch norms excepted with ``backbone_batchnorm: frozen``."""
        super().train(mode)
        if mode and self.config.backbone_batchnorm == "frozen":
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    @torch.jit.unused
    def parameter_groups(self) -> Iterator[tuple[list[nn.Parameter], float]]:
        """The pretrained layers at ``backbone_lr_scale``, the head at 1 (factors on ``optim.lr``)."""
        yield list(self.backbone.parameters()), self.config.backbone_lr_scale
        head = [p for name, p in self.named_parameters() if not name.startswith("backbone.")]
        yield head, 1.0


@register_model("aisfx_cnn", AisfxCnnConfig)
def build_aisfx_cnn(spec: TaggingSpec, config: AisfxCnnConfig) -> AisfxCnnTagger:
    """Build ``aisfx_cnn`` for the ``aisfx_mel`` front-end."""
    if not isinstance(spec.frontend, AisfxMelConfig):
        raise ValueError(
            "model 'aisfx_cnn' fine-tunes aisfx's network on its own input and needs the "
            f"'aisfx_mel' front-end, but the spec's front-end is {describe_frontend(spec)}; "
            "prepare the audio with --frontend-set name=aisfx_mel"
        )
    return AisfxCnnTagger(num_classes=spec.num_classes, config=config)
