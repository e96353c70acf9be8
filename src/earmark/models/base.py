"""The base class every tagger model derives from, and the checks that a model fits a spec.

A :class:`TaggerModel` turns features ``(batch, frames, dim)`` into per-frame embeddings with
:meth:`TaggerModel.embed` and pools them into clip-level logits with its ``pooling`` module (see
:mod:`earmark.models.pooling`). The checks below let each builder say, at build time and in
words, why a spec does not suit it and which model to use instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn

from earmark.features.embeddings import PrecomputedConfig
from earmark.features.frontend import build_frontend, frontend_name
from earmark.features.logmel import LogMelConfig
from earmark.features.waveform import WaveformConfig
from earmark.models.masking import full_lengths
from earmark.spec import TaggingSpec

__all__ = [
    "MelInput",
    "TaggerModel",
    "describe_frontend",
    "frontend_dim",
    "require_logmel",
    "require_waveform",
]


class TaggerModel(nn.Module):
    """Base of every earmark model: features ``(batch, frames, dim)`` → logits ``(batch, classes)``.

    Subclasses build ``self.pooling`` (a clip pooling module of :mod:`earmark.models.pooling`) and
    implement :meth:`embed`; :meth:`forward` checks the input and chains the two.

    Parameters
    ----------
    num_classes
        Columns of the output (the spec's ``num_classes``).
    input_dim
        Values per input frame (the spec's front-end dim).
    min_frames
        The fewest frames the model accepts; any number at least this large works.

    """

    def __init__(self, *, num_classes: int, input_dim: int, min_frames: int) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.input_dim = int(input_dim)
        self.min_frames = int(min_frames)
        self.pooling: nn.Module = nn.Identity()  # replaced by each subclass

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Clip-level logits ``(batch, num_classes)`` of features ``(batch, frames, input_dim)``.

        ``lengths`` ``(batch,)`` gives each row's valid frames (the rest is padding, ignored as
        described in :mod:`earmark.models.masking`); None means every frame is valid.
        """
        self.check_features(features)
        embeddings, frame_lengths = self.embed(features, full_lengths(features, lengths))
        logits: Tensor = self.pooling(embeddings, frame_lengths)
        return logits

    def embed(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame embeddings ``(batch, frames_out, channels)`` and their valid lengths ``(batch,)``."""
        raise NotImplementedError

    def check_features(self, features: Tensor) -> None:
        """Raise ``ValueError`` naming the shape at fault unless ``features`` suits the model."""
        if features.dim() != 3:
            raise ValueError(
                f"features must have shape (batch, frames, dim), got {features.dim()} dimensions"
            )
        if features.shape[2] != self.input_dim:
            raise ValueError(
                f"features have dim {features.shape[2]} but the model was built for {self.input_dim}"
            )
        if features.shape[1] < self.min_frames:
            raise ValueError(
                f"features have {features.shape[1]} frames but the model needs at least "
                f"{self.min_frames}; zero-pad short clips to min_frames"
            )

    @torch.jit.unused
    def fit_input_statistics(self, clips: Iterable[np.ndarray]) -> None:
        """Fit whatever the model computes from its training data before training (nothing here).

        The Trainer calls this once on a new model (not on resume or ``init_from``, whose
        checkpoints carry the fitted values) with the frames ``(num_frames, dim)`` of every
        training clip; models that standardise their input (``attention_mil``, ``linear``,
        ``mlp``) store the statistics in buffers, so they travel in every checkpoint.
        """

    @torch.jit.unused
    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameter values (only those with ``requires_grad`` if ``trainable_only``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)


class MelInput(nn.Module):
    """Log-mel frames ``(batch, frames, n_mels)`` → images ``(batch, 1, frames, n_mels)``.

    With ``normalize`` a batch norm standardises each mel band (learned, as in PANNs), so the
    raw natural-log power of the front-end needs no separate normalisation. The images are in
    channels-last memory format, which the CPU convolutions run faster on (10-30 % per training
    step here); the values are the same.
    """

    def __init__(self, n_mels: int, normalize: bool) -> None:
        super().__init__()
        self.norm: nn.Module = nn.BatchNorm1d(n_mels) if normalize else nn.Identity()

    def forward(self, features: Tensor) -> Tensor:
        """Images ``(batch, 1, frames, n_mels)``."""
        normalized: Tensor = self.norm(features.transpose(1, 2))
        images = normalized.transpose(1, 2).unsqueeze(1)
        return images.contiguous(memory_format=torch.channels_last)


def describe_frontend(spec: TaggingSpec) -> str:
    """A short description of the spec's front-end, e.g. ``"logmel (64 mel bands)"``."""
    config = spec.frontend
    name = frontend_name(config)
    if isinstance(config, LogMelConfig):
        return f"{name} ({config.n_mels} mel bands)"
    if isinstance(config, WaveformConfig):
        return f"{name} ({config.frame_samples} samples per frame)"
    if isinstance(config, PrecomputedConfig):
        return f"{name} ({config.source}, {config.dim} values per frame)"
    return name


def frontend_dim(spec: TaggingSpec) -> int:
    """Values per frame of the spec's front-end (n_mels, frame_samples or embedding dim)."""
    config = spec.frontend
    if isinstance(config, LogMelConfig):
        return config.n_mels
    if isinstance(config, WaveformConfig):
        return config.frame_samples
    if isinstance(config, PrecomputedConfig):
        return config.dim
    return int(build_frontend(config).dim)


def require_logmel(spec: TaggingSpec, model: str, *, min_mel_bands: int) -> int:
    """The spec's ``n_mels``, or ``ValueError`` when it is not a log-mel with enough bands.

    Parameters
    ----------
    spec
        The task spec.
    model
        Registered name of the model asking, for the message.
    min_mel_bands
        The fewest mel bands the model's frequency pooling can take.

    """
    config = spec.frontend
    if not isinstance(config, LogMelConfig):
        raise ValueError(
            f"model {model!r} needs 2-D time-frequency features from the 'logmel' front-end, but "
            f"the spec's front-end is {describe_frontend(spec)}; use 'attention_mil', 'linear' or "
            "'mlp' for per-frame embeddings, or 'waveform' for raw audio"
        )
    if config.n_mels < min_mel_bands:
        raise ValueError(
            f"model {model!r} pools frequency by {min_mel_bands} and needs n_mels >= {min_mel_bands}, "
            f"but the spec's log-mel has n_mels={config.n_mels}; use more mel bands or fewer "
            "downsampling stages"
        )
    return config.n_mels


def require_waveform(spec: TaggingSpec, model: str) -> WaveformConfig:
    """The spec's waveform config, or ``ValueError`` when the front-end is not raw audio."""
    config = spec.frontend
    if not isinstance(config, WaveformConfig):
        raise ValueError(
            f"model {model!r} reads raw audio and needs the 'waveform' front-end, but the spec's "
            f"front-end is {describe_frontend(spec)}; use 'cnn', 'crnn', 'resnet' or 'mobilenet' "
            "for log-mel features and 'attention_mil', 'linear' or 'mlp' for embeddings"
        )
    return config
