"""The review package's error."""

from __future__ import annotations

from earmark.errors import EarmarkError

__all__ = ["ReviewError"]


class ReviewError(EarmarkError):
    """A prepared directory, a review folder or a review request is not usable."""
