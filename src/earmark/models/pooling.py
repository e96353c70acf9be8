"""Clip-level pooling: per-frame embeddings ``(batch, frames, channels)`` → logits ``(batch, classes)``.

Every model ends in one of these modules, so the pooling is a config choice shared by all:

``mean``
    mean over time of per-frame class logits (computed as the classifier of the mean embedding,
    which is the same because the classifier is linear).
``max``
    max over time of per-frame class logits.
``logsumexp``
    ``(1/r) log((1/T) Σ_t exp(r z_t))`` of per-frame logits ``z_t``: the mean as ``r → 0``, the
    max as ``r → ∞`` (``r`` = ``logsumexp_sharpness``).
``attention``
    decision-level attention over logits: per-frame class logits weighted by per-frame, per-class
    attention weights (a softmax over time).
``attention_probability``
    decision-level attention over probabilities (Kong et al.; Gururani & Lerch):
    ``p = Σ_t a_t σ(z_t)``. The model still returns logits: ``logit(p)`` is computed exactly in
    log space, ``log Σ_t a_t σ(z_t) − log Σ_t a_t σ(−z_t)`` (the second sum is ``1 − p`` since
    the weights sum to one), so no clamp of ``p`` is needed and the value is finite for any
    finite input, with non-vanishing gradients where a clamped ``p`` would have none.

The attention heads have no bias: a bias constant over time cancels in the softmax.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional

from earmark.config import ConfigError

__all__ = [
    "POOLINGS",
    "HeadConfig",
    "PoolingName",
    "attention_pool",
    "attention_probability_pool",
    "build_pooling",
    "logsumexp_pool",
    "max_pool",
    "mean_pool",
]

PoolingName = Literal["mean", "max", "logsumexp", "attention", "attention_probability"]
POOLINGS: tuple[str, ...] = ("mean", "max", "logsumexp", "attention", "attention_probability")


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """Options every model config shares: dropout on the frame embeddings and the clip pooling.

    Parameters
    ----------
    dropout
        Dropout probability on the per-frame embeddings before the pooling head; the only
        randomness of a forward pass (Mean Teacher uses it as its noise).
    pooling
        Clip-level pooling, one of :data:`POOLINGS`.
    logsumexp_sharpness
        ``r`` of the ``logsumexp`` pooling (ignored by the others).

    """

    dropout: float = 0.2
    pooling: PoolingName = "mean"
    logsumexp_sharpness: float = 5.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.logsumexp_sharpness <= 0:
            raise ConfigError(f"logsumexp_sharpness must be positive, got {self.logsumexp_sharpness}")

    def pooling_head(self, in_features: int, num_classes: int) -> nn.Module:
        """The configured pooling module with its classifier."""
        return build_pooling(
            self.pooling, in_features, num_classes, logsumexp_sharpness=self.logsumexp_sharpness
        )


def mean_pool(frame_logits: Tensor) -> Tensor:
    """Mean over time: ``(batch, frames, classes)`` → ``(batch, classes)``."""
    return frame_logits.mean(dim=1)


def max_pool(frame_logits: Tensor) -> Tensor:
    """Max over time: ``(batch, frames, classes)`` → ``(batch, classes)``."""
    return frame_logits.amax(dim=1)


def logsumexp_pool(frame_logits: Tensor, sharpness: float) -> Tensor:
    """Normalised log-sum-exp over time, ``(1/r) log mean_t exp(r z_t)``.

    Parameters
    ----------
    frame_logits
        Per-frame logits ``(batch, frames, classes)``.
    sharpness
        ``r > 0``; small values approach the mean, large values the max.

    Returns
    -------
    Tensor
        ``(batch, classes)``.

    """
    frames = frame_logits.shape[1]
    return (torch.logsumexp(frame_logits * sharpness, dim=1) - math.log(frames)) / sharpness


def attention_pool(frame_values: Tensor, attention_logits: Tensor) -> Tensor:
    """Attention-weighted mean over time; the weights are a softmax over time of ``attention_logits``.

    Both inputs are ``(batch, frames, classes)``; the result is ``(batch, classes)``. Uniform
    attention logits give the plain mean.
    """
    weights = torch.softmax(attention_logits, dim=1)
    return (weights * frame_values).sum(dim=1)


def attention_probability_pool(frame_logits: Tensor, attention_logits: Tensor) -> Tensor:
    """Logit of the attention-weighted mean probability ``Σ_t a_t σ(z_t)``, computed in log space.

    Both inputs are ``(batch, frames, classes)``; the result ``(batch, classes)`` holds logits.
    """
    log_weights = torch.log_softmax(attention_logits, dim=1)
    log_positive = torch.logsumexp(log_weights + functional.logsigmoid(frame_logits), dim=1)
    log_negative = torch.logsumexp(log_weights + functional.logsigmoid(-frame_logits), dim=1)
    return log_positive - log_negative


class MeanPooling(nn.Module):
    """Classifier of the time-averaged embedding (= mean of per-frame logits)."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_features, num_classes)

    def forward(self, frame_embeddings: Tensor) -> Tensor:
        """Logits ``(batch, classes)`` of embeddings ``(batch, frames, in_features)``."""
        logits: Tensor = self.classifier(frame_embeddings.mean(dim=1))
        return logits


class MaxPooling(nn.Module):
    """Max over time of per-frame logits."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_features, num_classes)

    def forward(self, frame_embeddings: Tensor) -> Tensor:
        """Logits ``(batch, classes)`` of embeddings ``(batch, frames, in_features)``."""
        return max_pool(self.classifier(frame_embeddings))


class LogSumExpPooling(nn.Module):
    """Normalised log-sum-exp over time of per-frame logits, sharpness ``r``."""

    def __init__(self, in_features: int, num_classes: int, sharpness: float) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_features, num_classes)
        self.sharpness = float(sharpness)

    def forward(self, frame_embeddings: Tensor) -> Tensor:
        """Logits ``(batch, classes)`` of embeddings ``(batch, frames, in_features)``."""
        return logsumexp_pool(self.classifier(frame_embeddings), self.sharpness)


class AttentionPooling(nn.Module):
    """Decision-level attention over per-frame logits (or probabilities, see module docstring)."""

    def __init__(self, in_features: int, num_classes: int, over_probabilities: bool) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_features, num_classes)
        self.attention = nn.Linear(in_features, num_classes, bias=False)
        nn.init.zeros_(self.attention.weight)  # start from uniform attention, i.e. the mean
        self.over_probabilities = bool(over_probabilities)

    def forward(self, frame_embeddings: Tensor) -> Tensor:
        """Logits ``(batch, classes)`` of embeddings ``(batch, frames, in_features)``."""
        frame_logits = self.classifier(frame_embeddings)
        attention_logits = self.attention(frame_embeddings)
        if self.over_probabilities:
            return attention_probability_pool(frame_logits, attention_logits)
        return attention_pool(frame_logits, attention_logits)


def build_pooling(
    name: str, in_features: int, num_classes: int, *, logsumexp_sharpness: float = 5.0
) -> nn.Module:
    """The pooling module ``name`` (one of :data:`POOLINGS`) with its classifier head."""
    if name == "mean":
        return MeanPooling(in_features, num_classes)
    if name == "max":
        return MaxPooling(in_features, num_classes)
    if name == "logsumexp":
        if logsumexp_sharpness <= 0:
            raise ValueError(f"logsumexp_sharpness must be positive, got {logsumexp_sharpness}")
        return LogSumExpPooling(in_features, num_classes, logsumexp_sharpness)
    if name in ("attention", "attention_probability"):
        return AttentionPooling(in_features, num_classes, name == "attention_probability")
    raise ValueError(f"unknown pooling {name!r}; choose one of {', '.join(POOLINGS)}")
