"""Shared helpers of the tags tests: a synthetic embedding backend and noise tags."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


class SyntheticBackend:
    """A tiny embedding model: chosen texts get chosen vectors, any other text a random one.

    Random vectors are seeded by the text, so a text always embeds the same way. Calls are
    counted, so tests can see whether the cache was used.
    """

    model_name = "synthetic-32d"

    def __init__(self, vectors: dict[str, np.ndarray], dim: int = 32) -> None:
        self.vectors = vectors
        self.dim = dim
        self.calls = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        rows = []
        for text in texts:
            if text in self.vectors:
                rows.append(self.vectors[text])
            else:
                seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
                rows.append(np.random.default_rng(seed).standard_normal(self.dim))
        return np.array(rows, dtype=np.float64) * 3.0  # not unit length: embed_texts normalises


def basis(dim: int, *weights: tuple[int, float]) -> np.ndarray:
    vector = np.zeros(dim)
    for axis, weight in weights:
        vector[axis] = weight
    return vector


def noise_tags(count: int) -> list[str]:
    """Tags that embed as random vectors (the synthetic backend knows none of them)."""
    return [f"noise tag {i}" for i in range(count)]
