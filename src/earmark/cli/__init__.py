"""The ``earmark`` command: it only parses, loads config and calls the library.

Each sub-command lives in its own module and registers on :data:`earmark.cli.app.app`;
importing this package registers them all.
"""

from __future__ import annotations

import errno
import logging
import os
import sys

from rich.logging import RichHandler
from rich.markup import escape

from earmark.cli import (  # noqa: F401  (registers the commands)
    audit_cmd,
    config_cmd,
    evaluate_cmd,
    export_cmd,
    pipeline_cmd,
    predict_cmd,
    prepare_cmd,
    review_cmd,
    simulate_cmd,
    tags_cmd,
    train_cmd,
    tune_cmd,
)
from earmark.cli.app import app, console

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``earmark`` console script.

    A user error (bad value, missing file, a disk that is full or read-only) prints one line
    naming what is wrong and exits 2; ``--debug`` anywhere on the command line (or
    ``EARMARK_DEBUG=1``) shows the traceback instead.
    """
    debug = "--debug" in sys.argv[1:] or os.environ.get("EARMARK_DEBUG") == "1"
    sys.argv = [sys.argv[0], *(arg for arg in sys.argv[1:] if arg != "--debug")]
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    try:
        app()
    except (ValueError, OSError) as error:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {escape(describe_error(error))}", highlight=False)
        sys.exit(2)


def describe_error(error: BaseException) -> str:
    """One line for a user error.

    OS errors name the file and, for a full or read-only disk, say that what was written before
    is intact (every earmark write is atomic).
    """
    if isinstance(error, OSError) and not isinstance(error, FileNotFoundError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        advice = ""
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            advice = " (the disk is full; files written before are intact: free space and run again)"
        elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            advice = " (choose a writable location)"
        return f"{where}{error.strerror}{advice}"
    return str(error)
