"""The batch every strategy receives: a typed record, never positional slices."""

from __future__ import annotations

import dataclasses

import torch

__all__ = ["Batch"]


@dataclasses.dataclass(frozen=True)
class Batch:
    """A batch of segments and their labels.

    Attributes
    ----------
    features : (batch, frames, dim) float32
    positive : (batch, classes) float32 in [0, 1]; soft after mixup.
    annotated : (batch, classes) float32 in [0, 1]; 0 where the entry is missing.
    labeled : (batch,) bool; False for clips whose source is ``unlabeled``.
    clip_ids : the clip of each row.
    sources : ``curated`` / ``noisy`` / ``unlabeled`` of each row.
    lengths : (batch,) int64, the valid frames of each row; the frames after them are padding,
        which every model ignores (see :mod:`earmark.models.masking`). Every frame when omitted.

    """

    features: torch.Tensor
    positive: torch.Tensor
    annotated: torch.Tensor
    labeled: torch.Tensor
    clip_ids: tuple[str, ...]
    sources: tuple[str, ...]
    lengths: torch.Tensor | None = None

    def __post_init__(self) -> None:
        b = self.features.shape[0]
        if self.features.ndim != 3:
            raise ValueError(f"features must be (batch, frames, dim), got {tuple(self.features.shape)}")
        if self.lengths is None:
            full = torch.full((b,), self.features.shape[1], dtype=torch.long, device=self.features.device)
            object.__setattr__(self, "lengths", full)
        elif tuple(self.lengths.shape) != (b,):
            raise ValueError(f"lengths must be (batch={b},), got {tuple(self.lengths.shape)}")
        if self.positive.shape != self.annotated.shape or self.positive.shape[0] != b:
            raise ValueError(
                f"positive {tuple(self.positive.shape)} and annotated {tuple(self.annotated.shape)} "
                f"must both be (batch={b}, classes)"
            )
        if self.labeled.shape != (b,) or len(self.clip_ids) != b or len(self.sources) != b:
            raise ValueError("labeled, clip_ids and sources need one entry per row")

    @property
    def size(self) -> int:
        """Rows in the batch."""
        return int(self.features.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        """The same batch with its tensors on ``device``."""
        return dataclasses.replace(
            self,
            features=self.features.to(device, non_blocking=True),
            positive=self.positive.to(device, non_blocking=True),
            annotated=self.annotated.to(device, non_blocking=True),
            labeled=self.labeled.to(device, non_blocking=True),
            lengths=self.valid_frames.to(device, non_blocking=True),
        )

    @property
    def valid_frames(self) -> torch.Tensor:
        """``lengths`` as a tensor (never None after construction)."""
        if self.lengths is None:  # pragma: no cover - filled in __post_init__
            raise ValueError("a Batch always has lengths")
        return self.lengths

    def with_features(self, features: torch.Tensor) -> Batch:
        """The same labels with other features (an augmented view)."""
        return dataclasses.replace(self, features=features)
