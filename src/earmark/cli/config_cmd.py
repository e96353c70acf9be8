"""``earmark write-default-config``: the default YAML of a command, to edit and pass back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from earmark.cli.app import app, console
from earmark.cli.prepare_cmd import PrepareConfig
from earmark.config import ConfigError, dump_yaml
from earmark.io import write_text_atomic

#: kind → default config object; later commands add their own.
DEFAULT_CONFIGS: dict[str, Any] = {"prepare": PrepareConfig(options={"root": "path/to/audio"})}


@app.command("write-default-config")
def write_default_config(
    path: Annotated[Path, typer.Argument(help="YAML file to write ('-' prints it)")],
    kind: Annotated[str, typer.Option(help=f"which config: {', '.join(DEFAULT_CONFIGS)}")] = "prepare",
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write the default config of a command, every key with its default value."""
    if kind not in DEFAULT_CONFIGS:
        raise ConfigError(f"unknown config kind {kind!r}; known: {', '.join(DEFAULT_CONFIGS)}")
    text = dump_yaml(DEFAULT_CONFIGS[kind])
    if str(path) == "-":
        typer.echo(text, nl=False)
        return
    if path.exists() and not force:
        raise ConfigError(f"{path} exists; pass --force to overwrite it")
    write_text_atomic(path, text)
    console.print(f"wrote the default {kind} config to {path}")
