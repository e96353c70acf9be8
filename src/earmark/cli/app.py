"""The typer application every ``earmark`` sub-command registers on."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="earmark",
    help="Train and run multi-label audio taggers when the labels are noisy, missing or folksonomy tags.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()
