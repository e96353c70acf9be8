"""A tiny training recipe for tests: a two-block CNN over 16-frame segments, one epoch, seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["tiny_recipe"]


def tiny_recipe(prepared: str | Path, **changes: Any) -> dict[str, Any]:
    """A recipe mapping for :func:`earmark.train` on ``prepared`` (see :func:`make_prepared`).

    ``changes`` replace top-level entries (``data`` whole: give its ``prepared`` too).
    """
    return {
        "data": {"prepared": str(prepared)},
        "model": "cnn",
        "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
        "segment_frames": 16,
        "batch_size": 8,
        "epochs": 1,
        "report": False,
        **changes,
    }
