"""Whether an optional dependency group is installed, for tests that need it."""

from __future__ import annotations

__all__ = ["aisfx_missing"]


def aisfx_missing() -> str | None:
    """Why the aisfx package (and its weights) cannot be used here, or None when it can."""
    from earmark.features.aisfx import AisfxUnavailableError, aisfx_checkpoint_path

    try:
        aisfx_checkpoint_path("these tests")
    except AisfxUnavailableError as error:
        return str(error)
    return None
