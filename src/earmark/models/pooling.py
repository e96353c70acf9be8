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
``attention_sigmoid``
    decision-level attention in Kong et al.'s form, as in Gururani & Lerch's released model:
    attention weights ``a_t = σ(u_t) / Σ_s σ(u_s)`` (sigmoid attention logits normalised to sum
    to one over the valid frames) times per-frame probabilities, ``p = Σ_t a_t σ(z_t)``. Since
    ``a`` is the softmax over time of ``log σ(u_t)``, the logit of ``p`` is computed in log space
    exactly as for ``attention_probability`` (no clamp; Kong et al.'s code clamps ``σ(u)`` to
    ``[1e-7, 1 − 1e-7]``, which changes the weights only when the sigmoid saturates).

The softmax attention heads have no bias: a bias constant over time cancels in the softmax;
they start from zero weights, i.e. uniform attention. The sigmoid attention head keeps its bias
(it sets where on the sigmoid the frames sit, so it does not cancel) and PyTorch's default
initialisation, as a plain linear layer.

Every pooling takes the valid frames of each row, ``lengths`` ``(batch,)``, and ignores the
frames beyond them (zero-padding of short clips), so a padded clip pools as the clip alone.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional

from earmark.config import ConfigError, Range, check_ranges
from earmark.models.masking import frame_mask, masked_mean

__all__ = [
    "POOLINGS",
    "Channels",
    "DropoutProbability",
    "HeadConfig",
    "HiddenLayers",
    "PoolingName",
    "WidthMultiplier",
    "attention_pool",
    "attention_probability_pool",
    "attention_sigmoid_pool",
    "build_pooling",
    "logsumexp_pool",
    "max_pool",
    "mean_pool",
]

#: The ranges model options share: a dropout probability, a layer width in channels or units,
#: a count of hidden layers and the multiplier of a default width.
DropoutProbability = Annotated[float, Range(ge=0, lt=1)]
Channels = Annotated[int, Range(gt=0, le=16_384)]
HiddenLayers = Annotated[int, Range(ge=0, le=64)]
WidthMultiplier = Annotated[float, Range(gt=0, le=16)]

PoolingName = Literal["mean", "max", "logsumexp", "attention", "attention_probability", "attention_sigmoid"]
POOLINGS: tuple[str, ...] = (
    "mean",
    "max",
    "logsumexp",
    "attention",
    "attention_probability",
    "attention_sigmoid",
)


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

    dropout: DropoutProbability = 0.2
    pooling: PoolingName = "mean"
    logsumexp_sharpness: Annotated[float, Range(gt=0, le=1000)] = 5.0

    def __post_init__(self) -> None:
        check_ranges(self, key="model_options")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")

    def pooling_head(self, in_features: int, num_classes: int) -> nn.Module:
        """The configured pooling module with its classifier."""
        return build_pooling(
            self.pooling, in_features, num_classes, logsumexp_sharpness=self.logsumexp_sharpness
        )


def _valid(frame_values: Tensor, lengths: Tensor | None) -> Tensor:
    """Boolean ``(batch, frames, 1)``: which frames are real (all when ``lengths`` is None)."""
    batch, frames = frame_values.shape[0], frame_values.shape[1]
    if lengths is None:
        return torch.ones(batch, frames, 1, dtype=torch.bool, device=frame_values.device)
    return frame_mask(lengths.to(frame_values.device), frames).unsqueeze(2)


def _fill_padding(values: Tensor, lengths: Tensor | None, fill: float) -> Tensor:
    if lengths is None:
        return values
    return values.masked_fill(~_valid(values, lengths), fill)


def mean_pool(frame_logits: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Mean over the valid frames: ``(batch, frames, classes)`` → ``(batch, classes)``."""
    if lengths is None:
        return frame_logits.mean(dim=1)
    return masked_mean(frame_logits, lengths.to(frame_logits.device), dim=1)


def max_pool(frame_logits: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Max over the valid frames: ``(batch, frames, classes)`` → ``(batch, classes)``."""
    return _fill_padding(frame_logits, lengths, -math.inf).amax(dim=1)


def logsumexp_pool(frame_logits: Tensor, sharpness: float, lengths: Tensor | None = None) -> Tensor:
    """Normalised log-sum-exp over the valid frames, ``(1/r) log mean_t exp(r z_t)``.

    Parameters
    ----------
    frame_logits
        Per-frame logits ``(batch, frames, classes)``.
    sharpness
        ``r > 0``; small values approach the mean, large values the max.
    lengths
        Valid frames of each row ``(batch,)``; all frames when None.

    Returns
    -------
    Tensor
        ``(batch, classes)``.

    """
    scaled = _fill_padding(frame_logits * sharpness, lengths, -math.inf)
    if lengths is None:  # counted by a tensor op, so a traced model follows the input's length
        counts = torch.ones_like(frame_logits[:, :, :1]).sum(dim=1)
    else:
        counts = lengths.to(device=frame_logits.device, dtype=frame_logits.dtype).unsqueeze(1)
    return (torch.logsumexp(scaled, dim=1) - torch.log(counts)) / sharpness


def attention_pool(frame_values: Tensor, attention_logits: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Attention-weighted mean over the valid frames (a softmax over time of ``attention_logits``).

    Both inputs are ``(batch, frames, classes)``; the result is ``(batch, classes)``. Uniform
    attention logits give the plain mean.
    """
    weights = torch.softmax(_fill_padding(attention_logits, lengths, -math.inf), dim=1)
    return (weights * _fill_padding(frame_values, lengths, 0.0)).sum(dim=1)


def attention_probability_pool(
    frame_logits: Tensor, attention_logits: Tensor, lengths: Tensor | None = None
) -> Tensor:
    """Logit of the attention-weighted mean probability ``Σ_t a_t σ(z_t)``, computed in log space.

    Both inputs are ``(batch, frames, classes)``; the result ``(batch, classes)`` holds logits.
    Padded frames (at or beyond ``lengths``) get zero weight.
    """
    log_weights = torch.log_softmax(_fill_padding(attention_logits, lengths, -math.inf), dim=1)
    log_positive = torch.logsumexp(log_weights + functional.logsigmoid(frame_logits), dim=1)
    log_negative = torch.logsumexp(log_weights + functional.logsigmoid(-frame_logits), dim=1)
    return log_positive - log_negative


def attention_sigmoid_pool(
    frame_logits: Tensor, attention_logits: Tensor, lengths: Tensor | None = None
) -> Tensor:
    """Logit of ``Σ_t a_t σ(z_t)`` with ``a_t = σ(u_t) / Σ_s σ(u_s)`` over the valid frames.

    Parameters
    ----------
    frame_logits
        Per-frame class logits ``z`` ``(batch, frames, classes)``.
    attention_logits
        Per-frame, per-class attention logits ``u`` ``(batch, frames, classes)``.
    lengths
        Valid frames of each row ``(batch,)``; all frames when None. Padded frames get zero weight.

    Returns
    -------
    Tensor
        Clip logits ``(batch, classes)``, computed in log space (finite for any finite input).

    """
    return attention_probability_pool(frame_logits, functional.logsigmoid(attention_logits), lengths)


class MeanPooling(nn.Module):
    """Classifier of the time-averaged embedding (= mean of per-frame logits)."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_features, num_classes)

    def forward(self, frame_embeddings: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits ``(batch, classes)`` of embeddings ``(batch, frames, in_features)``."""
        logits: Tensor = self.classifier(mean_pool(frame_embeddings, lengths))
        return logits


class MaxPooling(nn.Module):
    """Max over time of per-frame logits."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_features, num_classes)

    def forward(self, frame_embeddings: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits ``(batch, classes)`` of embeddings ``(batch, frames, in_features)``."""
        return max_pool(self.classifier(frame_embeddings), lengths)


class LogSumExpPooling(nn.Module):
    """Normalised log-sum-exp over time of per-frame logits, sharpness ``r``."""

    def __init__(self, in_features: int, num_classes: int, sharpness: float) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_features, num_classes)
        self.sharpness = float(sharpness)

    def forward(self, frame_embeddings: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits ``(batch, classes)`` of embeddings ``(batch, frames, in_features)``."""
        return logsumexp_pool(self.classifier(frame_embeddings), self.sharpness, lengths)


class AttentionPooling(nn.Module):
    """Decision-level attention over per-frame logits (or probabilities, see module docstring)."""

    def __init__(self, in_features: int, num_classes: int, over_probabilities: bool) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_features, num_classes)
        self.attention = nn.Linear(in_features, num_classes, bias=False)
        nn.init.zeros_(self.attention.weight)  # start from uniform attention, i.e. the mean
        self.over_probabilities = bool(over_probabilities)

    def forward(self, frame_embeddings: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits ``(batch, classes)`` of embeddings ``(batch, frames, in_features)``."""
        frame_logits = self.classifier(frame_embeddings)
        attention_logits = self.attention(frame_embeddings)
        if self.over_probabilities:
            return attention_probability_pool(frame_logits, attention_logits, lengths)
        return attention_pool(frame_logits, attention_logits, lengths)


class SigmoidAttentionPooling(nn.Module):
    """Kong et al.'s attention: normalised sigmoid weights times per-frame probabilities."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_features, num_classes)
        self.attention = nn.Linear(in_features, num_classes)

    def forward(self, frame_embeddings: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits ``(batch, classes)`` of embeddings ``(batch, frames, in_features)``."""
        frame_logits = self.classifier(frame_embeddings)
        return attention_sigmoid_pool(frame_logits, self.attention(frame_embeddings), lengths)


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
    if name == "attention_sigmoid":
        return SigmoidAttentionPooling(in_features, num_classes)
    raise ValueError(f"unknown pooling {name!r}; choose one of {', '.join(POOLINGS)}")
