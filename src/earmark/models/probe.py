"""``linear`` and ``mlp``: probes of per-frame embeddings through clip statistics.

The simplest heads for pretrained embeddings, and the baseline the attention model must beat:

1. each frame is standardised with the training split's per-dimension mean and std (as in
   ``attention_mil``; buffers, fitted by :meth:`ProbeTagger.fit_input_statistics`);
2. the valid frames of each clip are pooled into statistics over time, concatenated in the
   order given by ``statistics`` (default ``mean`` ‖ ``max``: ``2 × dim`` values; ``std`` is the
   population standard deviation over the valid frames);
3. that clip vector is standardised with the training clips' mean and std of each statistic
   (exact: the mean and max of standardised frames are the raw ones shifted and scaled, so
   both sets of statistics are fitted in one pass over the training clips), as a
   scikit-learn ``StandardScaler`` before a logistic regression would;
4. ``linear``: dropout and one linear layer, a logistic-regression probe (its L2 penalty is
   the optimizer's weight decay); ``mlp``: ``hidden_layers`` × (Linear → BatchNorm → ReLU →
   Dropout), then a linear layer.

Steps 2-4 are the model's ``pooling`` module (:class:`StatisticsPooling`), so
:meth:`ProbeTagger.embed` gives the standardised frames; padded frames are ignored throughout.
A model that was never fitted standardises with mean 0 and std 1 (the identity) at both steps.
These models have no ``pooling`` option: the statistics are their pooling.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Literal, cast

import numpy as np
import torch
from torch import Tensor, nn

from earmark.config import ConfigError, check_ranges
from earmark.models.base import TaggerModel, frontend_dim
from earmark.models.framewise import (
    Dropout,
    InputStandardizer,
    RunningMoments,
    check_clip_frames,
    floor_std,
    hidden_block,
)
from earmark.models.masking import frame_mask, masked_mean
from earmark.models.pooling import Channels, DropoutProbability, HiddenLayers
from earmark.models.registry import register_model
from earmark.spec import TaggingSpec

__all__ = ["STATISTICS", "LinearProbeConfig", "MlpProbeConfig", "ProbeTagger", "StatisticsPooling"]

Statistic = Literal["mean", "max", "std"]
#: The clip statistics a probe can pool, in the order they may be listed.
STATISTICS: tuple[str, ...] = ("mean", "max", "std")


@dataclasses.dataclass(frozen=True)
class LinearProbeConfig:
    """Options of ``linear``.

    Parameters
    ----------
    statistics
        Non-empty list of distinct clip statistics among ``mean``, ``max``, ``std``, pooled
        over the valid frames and concatenated in this order.
    dropout
        Dropout on the clip vector before the linear layer.
    standardize
        Standardise the frames and the clip vector with training-split statistics.

    """

    statistics: tuple[Statistic, ...] = ("mean", "max")
    dropout: DropoutProbability = 0.2
    standardize: bool = True

    def __post_init__(self) -> None:
        check_ranges(self, key="model_options")
        if not self.statistics:
            raise ConfigError(f"statistics must list at least one of {', '.join(STATISTICS)}")
        unknown = [s for s in self.statistics if s not in STATISTICS]
        if unknown:
            raise ConfigError(f"statistics must be among {', '.join(STATISTICS)}, got {unknown[0]!r}")
        if len(set(self.statistics)) != len(self.statistics):
            raise ConfigError(f"statistics lists a statistic twice: {list(self.statistics)}")


@dataclasses.dataclass(frozen=True)
class MlpProbeConfig(LinearProbeConfig):
    """Options of ``mlp``: those of ``linear`` plus the hidden layers.

    Parameters
    ----------
    hidden_layers
        Hidden layers (Linear → BatchNorm → ReLU → Dropout) before the output layer; 0 makes
        it ``linear`` without the input dropout.
    hidden_units
        Units of each hidden layer.

    """

    dropout: float = 0.5
    hidden_layers: HiddenLayers = 1
    hidden_units: Channels = 256


def clip_statistics(frames: Tensor, lengths: Tensor, statistics: tuple[str, ...]) -> Tensor:
    """Statistics over the valid frames, concatenated: ``(batch, frames, dim)`` → ``(batch, k·dim)``."""
    lengths = lengths.to(frames.device)
    pooled: list[Tensor] = []
    mean = masked_mean(frames, lengths, dim=1)
    for name in statistics:
        if name == "mean":
            pooled.append(mean)
        elif name == "max":
            valid = frame_mask(lengths, frames.shape[1]).unsqueeze(2)
            pooled.append(frames.masked_fill(~valid, -math.inf).amax(dim=1))
        else:  # std; the small constant keeps the gradient finite for one-frame clips
            variance = masked_mean((frames - mean.unsqueeze(1)) ** 2, lengths, dim=1)
            pooled.append(torch.sqrt(variance + 1e-12))
    return torch.cat(pooled, dim=1)


def _numpy_statistic(frames: np.ndarray, name: str) -> np.ndarray:
    """The statistic ``name`` of frames ``(num_frames, dim)`` over time: ``(dim,)``."""
    if name == "mean":
        values: np.ndarray = frames.mean(axis=0)
    elif name == "max":
        values = frames.max(axis=0)
    else:
        values = frames.std(axis=0)
    return values


class StatisticsPooling(nn.Module):
    """Clip statistics of the frames, standardised, then ``classifier``: logits ``(batch, classes)``.

    ``center`` and ``scale`` ``(k·dim,)`` are buffers (0 and 1 until fitted).
    """

    center: Tensor
    scale: Tensor

    def __init__(self, in_features: int, statistics: tuple[str, ...], classifier: nn.Module) -> None:
        super().__init__()
        self.statistics = tuple(statistics)
        width = len(self.statistics) * in_features
        self.register_buffer("center", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))
        self.classifier = classifier

    def forward(self, frame_embeddings: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits ``(batch, classes)`` of frames ``(batch, frames, in_features)``."""
        if lengths is None:
            lengths = torch.full(
                (frame_embeddings.shape[0],), frame_embeddings.shape[1], device=frame_embeddings.device
            )
        pooled = clip_statistics(frame_embeddings, lengths, self.statistics)
        logits: Tensor = self.classifier((pooled - self.center) / self.scale)
        return logits


class ProbeTagger(TaggerModel):
    """``linear`` / ``mlp``: standardised frames → clip statistics → linear layer or MLP."""

    def __init__(self, *, num_classes: int, input_dim: int, config: LinearProbeConfig) -> None:
        super().__init__(num_classes=num_classes, input_dim=input_dim, min_frames=1)
        self.config = config
        self.standardizer: nn.Module = InputStandardizer(input_dim) if config.standardize else nn.Identity()
        width = len(config.statistics) * input_dim
        if isinstance(config, MlpProbeConfig):
            block = hidden_block(width, config.hidden_units, config.hidden_layers, config.dropout, norm=True)
            last = config.hidden_units if config.hidden_layers else width
            classifier = nn.Sequential(*block, nn.Linear(last, num_classes))
        else:
            classifier = nn.Sequential(Dropout(config.dropout), nn.Linear(width, num_classes))
        self.pooling = StatisticsPooling(input_dim, config.statistics, classifier)

    def embed(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Standardised frames ``(batch, frames, dim)``, zero beyond ``lengths`` (kept as they are)."""
        valid = frame_mask(lengths.to(features.device), features.shape[1]).unsqueeze(2)
        standardized: Tensor = self.standardizer(features)
        return standardized.masked_fill(~valid, 0.0), lengths

    @torch.jit.unused
    def fit_input_statistics(self, clips: Iterable[np.ndarray]) -> None:
        """Fit the frame and clip-vector standardisation on the training ``clips`` in one pass.

        Each clip is ``(num_frames, input_dim)``. Does nothing with ``standardize: false``.
        Raises ``ValueError`` naming a clip of the wrong shape or with non-finite values, or
        when there are no frames at all.
        """
        if not isinstance(self.standardizer, InputStandardizer):
            return
        statistics = self.config.statistics
        frame_moments = RunningMoments(self.input_dim)
        clip_moments = {name: RunningMoments(self.input_dim) for name in statistics}
        for index, clip in enumerate(clips):
            frames = check_clip_frames(clip, index, self.input_dim)
            if len(frames) == 0:
                continue
            frame_moments.update(frames)
            for name in statistics:
                clip_moments[name].update(_numpy_statistic(frames, name)[None])
        self.standardizer.set_statistics(frame_moments)
        frame_mean = self.standardizer.mean.detach().cpu().double().numpy()
        frame_std = self.standardizer.std.detach().cpu().double().numpy()
        # statistics of standardised frames: mean and max shift and scale, std only scales
        centers = [
            (clip_moments[n].mean - (0.0 if n == "std" else frame_mean)) / frame_std for n in statistics
        ]
        scales = [clip_moments[n].std / frame_std for n in statistics]
        pooling = cast(StatisticsPooling, self.pooling)
        pooling.center.copy_(torch.from_numpy(np.concatenate(centers)))
        pooling.scale.copy_(torch.from_numpy(floor_std(np.concatenate(scales))))


@register_model("linear", LinearProbeConfig)
def build_linear(spec: TaggingSpec, config: LinearProbeConfig) -> ProbeTagger:
    """Build ``linear`` for any front-end (a logistic-regression probe of clip statistics)."""
    return ProbeTagger(num_classes=spec.num_classes, input_dim=frontend_dim(spec), config=config)


@register_model("mlp", MlpProbeConfig)
def build_mlp(spec: TaggingSpec, config: MlpProbeConfig) -> ProbeTagger:
    """Build ``mlp`` for any front-end (an MLP on clip statistics)."""
    return ProbeTagger(num_classes=spec.num_classes, input_dim=frontend_dim(spec), config=config)
