"""The label review page: listen to flagged clips, look at them, decide, export label edits.

``earmark review AUDIT.csv --store S --out DIR [--serve]`` builds it; see
:func:`~earmark.review.page.build_review` and :class:`~earmark.review.server.ReviewServer`.
"""

from earmark.review.errors import ReviewError
from earmark.review.page import ReviewPage, build_review
from earmark.review.server import ReviewServer, serve_review

__all__ = [
    "ReviewError",
    "ReviewPage",
    "ReviewServer",
    "build_review",
    "serve_review",
]
