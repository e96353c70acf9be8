"""Checkpoints: written atomically, and refused when their spec is not the run's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from earmark.io import atomic_open
from earmark.spec import TaggingSpec

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """``torch.save`` ``payload`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        torch.save(payload, handle)
    return path


def load_checkpoint(path: str | Path, spec: TaggingSpec | None = None) -> dict[str, Any]:
    """Load a checkpoint; with ``spec``, its stored spec must match (classes, front-end, segment)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a truncated or foreign file
        raise ValueError(f"{path} is not a readable earmark checkpoint ({error})") from error
    if not isinstance(payload, dict) or "spec" not in payload:
        raise ValueError(f"{path} is not an earmark checkpoint (no spec inside)")
    stored = TaggingSpec.from_dict(payload["spec"])
    if spec is not None:
        spec.check_compatible(stored, what=f"checkpoint {path}")
    payload["spec"] = stored
    return payload
