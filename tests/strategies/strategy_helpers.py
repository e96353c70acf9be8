"""What the strategies' hand-computed tests share: a spec, a student of given logits, a batch."""

from __future__ import annotations

import torch
from torch import nn

from earmark.batch import Batch
from earmark.features.logmel import LogMelConfig
from earmark.spec import TaggingSpec

SPEC = TaggingSpec(("a", "b", "c", "d"), LogMelConfig(n_mels=16), segment_frames=16)


class FixedLogits(nn.Module):
    """A stand-in student whose logits are given, whatever the features."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits.clone())

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
