"""Reading a finished run: :func:`load_run` and :class:`LoadedRun`.

Both live in :mod:`earmark.training.runs`, beside the checkpoints they read, so that the Trainer
can load a teacher run without importing upward.
"""

from earmark.training.runs import LoadedRun, load_run

__all__ = ["LoadedRun", "load_run"]
