"""``earmark pipeline``: run a recipe of stages (train, select, filter, relabel), resumably."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from earmark.cli.app import app, console, out
from earmark.cli.progress import ProgressReport


def _headline(status: dict[str, Any]) -> str:
    summary = status.get("summary") or {}
    if status.get("kind") == "train":
        parts = [
            f"{split} {name} {value:.4f}"
            for split in ("valid", "test")
            for name, value in (summary.get(split) or {}).items()
        ]
        return ", ".join(parts[:4]) or f"{summary.get('steps')} steps"
    if status.get("kind") == "filter":
        return f"kept {summary.get('kept')} of {summary.get('scored')} ({summary.get('rule')})"
    if status.get("kind") == "select":
        return f"selected {summary.get('selected')} of {summary.get('pool')}"
    return ", ".join(f"{k}: {v}" for k, v in (summary.get("clips_per_source") or {}).items())


@app.command("pipeline")
def pipeline_command(
    recipe: Annotated[Path, typer.Argument(help="a pipeline recipe (YAML)")],
    start: Annotated[
        str | None, typer.Option("--from", help="run this stage and every later one again")
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(help="run only this stage again (the stages built on it follow on the next full run)"),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="where the stages go (default: the recipe's out)")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override: prepared=..., train.epochs=5, stages.NAME.key=value"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress lines")] = False,
) -> None:
    """Run a recipe's stages in order; finished stages are skipped when it is run again."""
    from earmark.pipeline import load_recipe, run_pipeline

    loaded = load_recipe(recipe, set_ or [])
    # stage by stage: a bar on a terminal, plain lines in a log file
    progress = ProgressReport("pipeline", unit="stages", quiet=quiet, every_seconds=0)

    def report(event: str, stage: Any, status: dict[str, Any]) -> None:
        done = loaded.index(stage.name) + (event != "start")
        if event == "skip":
            text = f"{stage.name}: done earlier, skipped"
        elif event == "start":
            text = f"{stage.name} ({stage.kind}) ..."
        else:
            text = f"{stage.name}: {_headline(status)} ({status.get('seconds')} s)"
        progress.note(text)
        progress.update(done, len(loaded.stages))

    with progress:
        results = run_pipeline(loaded, out=out_dir, start=start, only=only, on_event=report)
    table = Table("stage", "kind", "status", "result", "seconds", title=f"pipeline {recipe}")
    for stage in loaded.stages:
        status = results.get(stage.name) or {}
        table.add_row(
            stage.name,
            stage.kind,
            str(status.get("status", "not run")),
            _headline(status) if status.get("status") == "done" else "",
            str(status.get("seconds", "")),
        )
    out.print(table)
    console.print(f"stages written under {out_dir or loaded.out}")
