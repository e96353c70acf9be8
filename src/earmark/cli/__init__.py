"""The ``earmark`` command: it only parses, loads config and calls the library.

Each sub-command lives in its own module and registers on :data:`earmark.cli.app.app`;
importing this package registers them all.
"""

from __future__ import annotations

import logging
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
    """Entry point of the ``earmark`` console script; user errors print one line and exit 2."""
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    try:
        app()
    except (ValueError, FileNotFoundError) as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        sys.exit(2)
