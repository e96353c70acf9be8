"""The base of every error earmark raises on purpose.

:class:`EarmarkError` is the one class to catch at the library boundary: a bad config value,
an unreadable label table, a run that diverged. It derives from ``ValueError``, so code that
caught ``ValueError`` before keeps working. Each module defines its own subclasses
(:class:`~earmark.config.ConfigError`, :class:`~earmark.data.labels.LabelError`, ...); their
messages name the file, key or value at fault and say what to do.

Example::

    try:
        earmark.train(config, run_dir)
    except earmark.EarmarkError as error:
        print(f"error: {error}")
"""

from __future__ import annotations

__all__ = ["EarmarkError"]


class EarmarkError(ValueError):
    """An anticipated failure of earmark: bad input, a missing file, a run that cannot go on."""
