"""Checkpoints: written atomically, read without running code, refused when their spec is not the run's.

A checkpoint holds tensors and plain data only (dicts, lists, strings, numbers), so it is read
with ``torch.load(..., weights_only=True)``: a file that needs anything else to unpickle (a
class, a function: possibly code planted in a run directory someone handed over) is refused
before any of it runs.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from earmark.errors import EarmarkError
from earmark.io import atomic_open
from earmark.spec import TaggingSpec

__all__ = ["UnsafeCheckpointError", "capture_state", "load_checkpoint", "restore_state", "save_checkpoint"]


class UnsafeCheckpointError(EarmarkError):
    """A checkpoint needs more than tensors and plain data to load; it is not read."""


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
        payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f"{path} is refused: it holds objects other than tensors and plain data, which earmark "
            f"never writes, and loading them could run code ({str(error).splitlines()[0]})"
        ) from error
    except Exception as error:  # a truncated or foreign file
        raise ValueError(f"{path} is not a readable earmark checkpoint ({error})") from error
    if not isinstance(payload, dict) or "spec" not in payload:
        raise ValueError(f"{path} is not an earmark checkpoint (no spec inside)")
    stored = TaggingSpec.from_dict(payload["spec"])
    if spec is not None:
        spec.check_compatible(stored, what=f"checkpoint {path}")
    payload["spec"] = stored
    return payload


def capture_state(parts: Mapping[str, Any]) -> dict[str, Any]:
    """``state_dict()`` of each named part (model, optimizer, ...); None for an absent part."""
    return {name: None if part is None else part.state_dict() for name, part in parts.items()}


def restore_state(parts: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
    """Load each named part from ``payload`` (:func:`capture_state`'s output); absent ones are skipped."""
    for name, part in parts.items():
        if part is not None and payload.get(name) is not None:
            part.load_state_dict(payload[name])
