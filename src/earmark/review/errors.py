"""The review package's error."""

from __future__ import annotations

__all__ = ["ReviewError"]


class ReviewError(ValueError):
    """A prepared directory, a review folder or a review request is not usable."""
