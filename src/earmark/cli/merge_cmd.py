"""``earmark merge``: label tables or prepared directories into one, with an optional alias map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from earmark.cli.app import app, console, out
from earmark.config import ConfigError


@app.command("merge")
def merge_command(
    sources: Annotated[list[Path], typer.Argument(help="label tables, or prepared directories (not a mix)")],
    out_path: Annotated[Path, typer.Option("--out", help="the merged label table or prepared directory")],
    aliases: Annotated[
        Path | None,
        typer.Option(
            help="class alias map: a CSV of alias,class rows or a YAML / JSON mapping (Dog bark: dog)"
        ),
    ] = None,
) -> None:
    """Merge label tables or prepared directories over the union of their classes.

    An entry for a class outside a source's vocabulary becomes missing (not negative); the alias
    map renames classes first. Prepared directories must share the front-end.
    """
    from earmark.merge import merge_label_tables, merge_prepared, read_aliases

    kinds = {source.is_dir() for source in sources}
    if len(kinds) > 1:
        raise ConfigError("give only label tables or only prepared directories to merge")
    for source in sources:
        if not source.exists():
            raise ConfigError(f"{source} does not exist")
    alias_map = read_aliases(aliases) if aliases is not None else None
    if kinds == {True}:
        labels = merge_prepared(sources, out_path, aliases=alias_map)
    else:
        labels = merge_label_tables(sources, out_path, aliases=alias_map)
    out.print(
        f"merged {len(sources)} sources into {out_path}: {labels.num_clips} clips, "
        f"{labels.num_classes} classes, {labels.missing.mean():.1%} of entries missing",
        highlight=False,
    )
    if alias_map:
        console.print(f"{len(alias_map)} aliases applied from {aliases}")
