"""``earmark tune``: a hyper-parameter search over the ranges of a recipe's ``tune:`` block."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from earmark.cli.app import app, console, out

BEST_SHOWN = 5


def _value(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _best_table(rows: list[Any], metric: str) -> Table:
    """The best complete trials, best first."""
    complete = sorted(
        (r for r in rows if r.state == "complete" and r.value is not None), key=lambda r: (-r.value, r.number)
    )
    names = list(rows[0].params) if rows else []
    table = Table("trial", f"valid {metric}", *names, "seconds", "steps", title="best trials")
    for row in complete[:BEST_SHOWN]:
        table.add_row(
            str(row.number),
            f"{row.value:.4f}",
            *(_value(row.params.get(n)) for n in names),
            _value(row.seconds),
            _value(row.steps),
        )
    return table


@app.command("tune")
def tune_command(
    config: Annotated[
        Path, typer.Option(help="a training recipe (YAML) holding a tune: block with the space")
    ],
    run_dir: Annotated[
        Path, typer.Option("--run-dir", help="the search's directory; running again resumes it")
    ] = Path("runs/tune"),
    trials: Annotated[
        int | None, typer.Option(help="finished trials wanted (default: tune.trials)", min=1)
    ] = None,
    timeout_minutes: Annotated[
        float | None, typer.Option("--timeout-minutes", help="start no trial after this many minutes")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="recipe overrides, e.g. data.prepared=runs/esc10 tune.inner_folds=4"),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            help="trials run at once on the CPU, each process with its share of the torch threads "
            "(this process prints its own trials as they end, the table has all)",
            min=1,
        ),
    ] = 1,
) -> None:
    """Search hyper-parameters on validation data (never the test folds); writes best.yaml.

    Several processes started on one --run-dir share the search (an SQLite file); --jobs 2
    starts the second one itself.
    """
    from earmark.tuning import TuningUnavailable, describe_objective, load_tune_recipe, require_optuna, tune

    recipe = load_tune_recipe(config, overrides or [])
    try:
        require_optuna().logging.set_verbosity(logging.WARNING)  # this command prints each trial itself
    except TuningUnavailable as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(2) from error
    console.print(
        f"searching {len(recipe.tune.space.parameters)} keys; objective: {describe_objective(recipe)}"
    )

    def on_trial(trial: Any) -> None:
        value = "" if trial.value is None else f" {recipe.metric} {trial.value:.4f}"
        console.print(f"trial {trial.number}: {trial.state.name.lower()}{value}", highlight=False)

    result = tune(
        recipe, run_dir, trials=trials, timeout_minutes=timeout_minutes, on_trial=on_trial, jobs=jobs
    )
    summary = result.summary
    out.print(_best_table(result.rows, recipe.metric))
    out.print(f"{summary['finished']} of {summary['trials']} trials finished ({summary['states']})")
    for name, path in summary["files"].items():
        out.print(f"{name}: {path}")
    for note in summary["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if "best" in summary["files"]:
        out.print(f"train it: earmark train --config {summary['files']['best']} --run-dir RUN")
