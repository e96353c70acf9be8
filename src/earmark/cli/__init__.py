"""The ``earmark`` command: it only parses, loads config and calls the library.

Each sub-command lives in its own module and registers on :data:`earmark.cli.app.app`;
importing this package registers them all.
"""

from __future__ import annotations

import errno
import logging
import os
import sys

import yaml
from rich.logging import RichHandler
from rich.markup import escape

from earmark.cli import (  # noqa: F401  (registers the commands)
    audit_cmd,
    config_cmd,
    evaluate_cmd,
    export_cmd,
    merge_cmd,
    pipeline_cmd,
    predict_cmd,
    prepare_cmd,
    review_cmd,
    simulate_cmd,
    study_cmd,
    tags_cmd,
    train_cmd,
    tune_cmd,
)
from earmark.cli.app import app, console
from earmark.errors import EarmarkError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``earmark`` console script.

    A user error (bad value, missing file, a disk that is full or read-only, a config nested
    too deeply, a number too large) prints one line naming what is wrong and exits 2; Ctrl-C
    prints ``interrupted`` and exits 130. ``--debug`` anywhere on the command line (or
    ``EARMARK_DEBUG=1``) shows the traceback instead.
    """
    debug = "--debug" in sys.argv[1:] or os.environ.get("EARMARK_DEBUG") == "1"
    sys.argv = [sys.argv[0], *(arg for arg in sys.argv[1:] if arg != "--debug")]
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    try:
        app()
    except KeyboardInterrupt:
        if debug:
            raise
        _interrupted()
    except SystemExit as error:
        # typer turns Ctrl-C into a silent exit 130; say what happened
        if error.code == 130 and _caused_by_interrupt(error):
            _interrupted()
        raise
    except ANTICIPATED as error:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {escape(describe_error(error))}", highlight=False)
        sys.exit(2)


#: Failures that are the user's to fix, shown as one line: earmark's own errors (all
#: ``ValueError``), files that cannot be read or written, YAML that cannot be parsed, input
#: nested too deeply for the parser, numbers too large to convert.
ANTICIPATED: tuple[type[BaseException], ...] = (
    EarmarkError,
    ValueError,
    OSError,
    yaml.YAMLError,
    RecursionError,
    OverflowError,
)


def _interrupted() -> None:
    console.print("[bold red]interrupted[/]", highlight=False)
    sys.exit(130)


def _caused_by_interrupt(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def describe_error(error: BaseException) -> str:
    """One line for a user error.

    OS errors name the file and, for a full or read-only disk, say that what was written before
    is intact (every earmark write is atomic); an existing directory where a file is to be
    written, or a file where a directory is needed, says so.
    """
    if isinstance(error, RecursionError):
        return "the input is nested too deeply to read (a YAML file or value with thousands of levels?)"
    if isinstance(error, OverflowError):
        return f"a number is too large: {error}"
    if isinstance(error, OSError) and not isinstance(error, FileNotFoundError) and error.strerror:
        target = error.filename2 or error.filename  # a rename names its destination second
        where = f"{target}: " if target else ""
        advice = ""
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            advice = " (the disk is full; files written before are intact: free space and run again)"
        elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            advice = " (choose a writable location)"
        elif error.errno == errno.EISDIR:
            advice = " (it is a directory; give a file name)"
        elif error.errno == errno.EEXIST:
            advice = " (a file is in the way where a directory is needed)"
        elif error.errno == errno.ENOTDIR:
            advice = " (a part of the path is a file, not a directory)"
        elif error.errno == errno.EADDRINUSE:
            advice = " (the port is taken; choose another with --port, or 0 for any free port)"
        return f"{where}{error.strerror}{advice}"
    return " ".join(str(error).split()) or type(error).__name__
