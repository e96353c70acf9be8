"""What the strategies' hand-computed tests share: a spec, a student of given logits, a batch."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from earmark.batch import Batch
from earmark.data.labels import Labels
from earmark.features.logmel import LogMelConfig
from earmark.spec import TaggingSpec

SPEC = TaggingSpec(("a", "b", "c", "d"), LogMelConfig(n_mels=16), segment_frames=16)


class FixedLogits(nn.Module):
    """A stand-in student whose logits are given, whatever the features."""

    def __init__(self, logits: torch.Tensor | list[list[float]]) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.as_tensor(logits, dtype=torch.float32).clone())

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.logits


def labeled_batch(positive: list[list[float]], annotated: list[list[float]], *, labeled: list[bool]) -> Batch:
    """A batch of clips ``c0, c1, ...`` with these label matrices (features all zero)."""
    rows = len(positive)
    return Batch(
        features=torch.zeros(rows, 16, 16),
        positive=torch.tensor(positive, dtype=torch.float32),
        annotated=torch.tensor(annotated, dtype=torch.float32),
        labeled=torch.tensor(labeled),
        clip_ids=tuple(f"c{i}" for i in range(rows)),
        sources=tuple("curated" if known else "unlabeled" for known in labeled),
    )


def make_labels(positive: np.ndarray, annotated: np.ndarray, *, source: str = "curated") -> Labels:
    """Training labels of clips ``c0, c1, ...`` over ``SPEC``'s classes with these matrices."""
    n = len(positive)
    return Labels(
        clip_ids=np.array([f"c{i}" for i in range(n)], dtype=object),
        class_names=SPEC.class_names[: np.shape(positive)[1]],
        positive=positive,
        annotated=annotated,
        source=np.array([source] * n, dtype=object),
        fold=np.ones(n, dtype=np.int64),
        duration_seconds=np.ones(n),
    )
