"""Clip-level scores from a segment model: cover each clip with segments, aggregate their outputs.

A clip of any length is cut into segments of ``segment_frames`` frames every ``hop_frames``
frames (a clip shorter than one segment is zero-padded, and the model is told how many of its
frames are real, so the padding does not count); the model scores every
segment and the clip's score aggregates them: the mean of probabilities, the mean of logits
(the FSDKaggle2019 code) or the maximum.

Logits become probabilities by the run's output activation: one sigmoid per class (multi-label,
the default) or one softmax over the classes (a run trained on single-label data with a
categorical cross-entropy, the strategies' ``output: softmax``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # torch is imported where it runs: reading a config or the CLI's help needs none
    import torch
    from torch import nn

__all__ = [
    "Activation",
    "Aggregate",
    "Coverage",
    "Segmenting",
    "aggregate_segments",
    "output_probabilities",
    "predict_frames",
    "segment_starts",
]

Aggregate = Literal["mean_probability", "mean_logit", "max"]
Coverage = Literal["cover", "head"]
Activation = Literal["sigmoid", "softmax"]
AGGREGATES: tuple[str, ...] = ("mean_probability", "mean_logit", "max")
ACTIVATIONS: tuple[str, ...] = ("sigmoid", "softmax")


@dataclasses.dataclass(frozen=True)
class Segmenting:
    """How a run cuts clips into segments and scores them: the one home of these settings.

    Resolved once when a run starts (lengths in seconds become frames at the front-end's frame
    rate), stored in every checkpoint, and used by every path that scores clips with the run:
    validation, test predictions, ``earmark predict``, audits, pipelines and teacher runs.

    Parameters
    ----------
    segment_frames
        Frames per segment.
    hop_frames
        Frames between segment starts when a clip is covered (``coverage="cover"``).
    aggregate
        How segment outputs become the clip score (mean of probabilities, mean of logits, max).
    coverage
        ``cover``: segments every ``hop_frames`` cover the whole clip (the "X" input of the
        FSDKaggle2018 system); ``head``: only the first segment, the start of the clip ("LH").
    activation
        How logits become probabilities: ``sigmoid`` per class, or ``softmax`` over the classes
        (set by the run's strategy, from its ``output`` option).

    """

    segment_frames: int
    hop_frames: int
    aggregate: Aggregate = "mean_probability"
    coverage: Coverage = "cover"
    activation: Activation = "sigmoid"

    def __post_init__(self) -> None:
        if self.segment_frames <= 0 or self.hop_frames <= 0:
            raise ValueError(
                f"segment_frames ({self.segment_frames}) and hop_frames ({self.hop_frames}) must be positive"
            )
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"unknown aggregate {self.aggregate!r}; use {', '.join(AGGREGATES)}")
        if self.coverage not in ("cover", "head"):
            raise ValueError(f"coverage must be 'cover' or 'head', got {self.coverage!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; use {', '.join(ACTIVATIONS)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (stored in checkpoints)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segmenting:
        """Inverse of :meth:`to_dict`; unknown keys raise."""
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown segmenting key {', '.join(unknown)}")
        return cls(**dict(data))

    def score(
        self,
        model: nn.Module,
        clips: Iterable[np.ndarray],
        *,
        device: torch.device | str = "cpu",
        batch_segments: int = 256,
    ) -> np.ndarray:
        """Clip probabilities ``(clips, classes)`` of ``model`` for clips of frames ``(n, dim)``."""
        return predict_frames(
            model,
            clips,
            segment_frames=self.segment_frames,
            hop_frames=self.hop_frames,
            aggregate=self.aggregate,
            coverage=self.coverage,
            activation=self.activation,
            device=device,
            batch_segments=batch_segments,
        )


def segment_starts(num_frames: int, segment_frames: int, hop_frames: int) -> np.ndarray:
    """First frame of each segment covering ``num_frames`` frames (at least one segment)."""
    if segment_frames <= 0 or hop_frames <= 0:
        raise ValueError(f"segment_frames ({segment_frames}) and hop_frames ({hop_frames}) must be positive")
    if num_frames <= segment_frames:
        return np.zeros(1, dtype=np.int64)
    last = num_frames - segment_frames
    starts = np.arange(0, last + 1, hop_frames, dtype=np.int64)
    if starts[-1] != last:  # cover the tail with one more segment ending at the last frame
        starts = np.append(starts, last)
    return starts


def output_probabilities(logits: torch.Tensor, activation: Activation = "sigmoid") -> torch.Tensor:
    """Probabilities of logits ``(..., classes)``: a sigmoid per class or a softmax over the classes."""
    if activation == "sigmoid":
        return logits.sigmoid()
    if activation == "softmax":
        return logits.softmax(dim=-1)
    raise ValueError(f"unknown activation {activation!r}; use {', '.join(ACTIVATIONS)}")


def aggregate_segments(
    logits: torch.Tensor, how: Aggregate, activation: Activation = "sigmoid"
) -> torch.Tensor:
    """Clip probabilities ``(classes,)`` from segment logits ``(segments, classes)``.

    Leading dimension first, so ``(segments, clips, classes)`` gives ``(clips, classes)``.
    ``max`` is the largest probability of each class over the segments (under a sigmoid, the
    sigmoid of the largest logit).
    """
    if how == "mean_probability":
        return output_probabilities(logits, activation).mean(0)
    if how == "mean_logit":
        return output_probabilities(logits.mean(0), activation)
    if how == "max":
        return output_probabilities(logits, activation).max(0).values
    raise ValueError(f"unknown aggregate {how!r}; use mean_probability, mean_logit or max")


def _segments(
    frames: np.ndarray, segment_frames: int, hop_frames: int, coverage: Coverage
) -> tuple[np.ndarray, np.ndarray]:
    """Segments ``(n, segment_frames, dim)`` covering a clip (or its head), and their valid frames."""
    if frames.shape[0] == segment_frames or (coverage == "head" and frames.shape[0] > segment_frames):
        return frames[None, :segment_frames].astype(np.float32), np.array([segment_frames], dtype=np.int64)
    starts = segment_starts(frames.shape[0], segment_frames, hop_frames)
    if coverage == "head":
        starts = starts[:1]
    out = np.zeros((len(starts), segment_frames, frames.shape[1]), dtype=np.float32)
    valid = np.zeros(len(starts), dtype=np.int64)
    for i, start in enumerate(starts.tolist()):
        piece = frames[start : start + segment_frames]
        out[i, : piece.shape[0]] = piece
        valid[i] = piece.shape[0]
    return out, valid


def _chunks(
    clips: Iterable[np.ndarray], segment_frames: int, hop_frames: int, batch_segments: int, coverage: Coverage
) -> Iterator[tuple[np.ndarray, np.ndarray, list[int]]]:
    """Stacks of segments (at most ``batch_segments``, whole clips), their valid frames, counts."""
    pending: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    counts: list[int] = []
    for frames in clips:
        if len(frames) == 0:
            raise ValueError("a clip has no frames; it cannot be scored")
        segments, valid = _segments(np.asarray(frames), segment_frames, hop_frames, coverage)
        if pending and sum(counts) + len(segments) > batch_segments:
            yield np.concatenate(pending), np.concatenate(lengths), counts
            pending, lengths, counts = [], [], []
        pending.append(segments)
        lengths.append(valid)
        counts.append(len(segments))
    if pending:
        yield np.concatenate(pending), np.concatenate(lengths), counts


def predict_frames(
    model: nn.Module,
    clips: Sequence[np.ndarray] | Iterable[np.ndarray],
    *,
    segment_frames: int,
    hop_frames: int | None = None,
    aggregate: Aggregate = "mean_probability",
    coverage: Coverage = "cover",
    activation: Activation = "sigmoid",
    batch_segments: int = 256,
    device: torch.device | str = "cpu",
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """Clip probabilities ``(clips, classes)`` for clips given as frames ``(num_frames, dim)``.

    ``hop_frames`` defaults to half a segment (50 % overlap); ``coverage="head"`` scores only
    the first segment of each clip; ``activation`` turns logits into probabilities. The model is
    put in eval mode.
    """
    import torch  # here, not at the top: a config that holds a Segmenting needs no torch

    hop_frames = hop_frames or max(1, segment_frames // 2)
    was_training = model.training
    model.eval()
    rows: list[np.ndarray] = []
    try:
        with torch.inference_mode():
            for stack, valid, counts in _chunks(clips, segment_frames, hop_frames, batch_segments, coverage):
                features = torch.from_numpy(stack).to(device)
                if transform is not None:
                    features = transform(features)
                logits = model(features, torch.from_numpy(valid).to(device)).float().cpu()
                if len(set(counts)) == 1:  # as many segments per clip: aggregate them all at once
                    stacked = logits.reshape(len(counts), counts[0], logits.shape[1]).transpose(0, 1)
                    rows.extend(aggregate_segments(stacked, aggregate, activation).numpy())
                    continue
                for piece in torch.split(logits, counts):
                    rows.append(aggregate_segments(piece, aggregate, activation).numpy())
    finally:
        model.train(was_training)
    if not rows:
        raise ValueError("no clips to predict")
    return np.stack(rows).astype(np.float32)
