"""``earmark train``: one run from a recipe, with ``key=value`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from earmark.cli.app import app, console, out
from earmark.config import ConfigError, apply_overrides, from_dict, load_yaml

if TYPE_CHECKING:
    from earmark.training.config import TrainConfig


def load_train_config(path: Path | None, overrides: list[str]) -> TrainConfig:
    """A recipe file (or the defaults) with command-line overrides, validated strictly and resolved.

    Model, strategy and augmentation options are built through their registries
    (:func:`~earmark.training.resolve.resolve`): an unknown key fails here, naming the file and
    the key, and the config holds their full values. A ``tune:`` block (the search space of
    ``earmark tune``) is dropped: it does not train.
    """
    from earmark.training.config import TrainConfig
    from earmark.training.resolve import resolve  # the registries it reads import torch

    data = apply_overrides(load_yaml(path) if path else {}, overrides)
    data.pop("tune", None)
    try:
        return resolve(from_dict(TrainConfig, data))
    except ConfigError as error:
        if path is None:
            raise
        raise ConfigError(f"{path}: {error}") from error


@app.command("train")
def train_command(
    overrides: Annotated[
        list[str] | None, typer.Argument(help="config overrides, e.g. optim.lr=3e-3")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="a training recipe (YAML); its tune: block, if any, is ignored")
    ] = None,
    run_dir: Annotated[Path, typer.Option("--run-dir", help="where the run is written")] = Path("runs/train"),
    resume: Annotated[bool, typer.Option(help="continue from the run's last checkpoint")] = False,
    overwrite: Annotated[
        bool, typer.Option(help="remove the run already in --run-dir (checkpoints, log, predictions) first")
    ] = False,
) -> None:
    """Train a tagger; the run directory receives config, checkpoints, metrics and predictions."""
    from earmark.training.distributed import setup, teardown
    from earmark.training.trainer import Trainer

    settings = load_train_config(config, overrides or [])
    context = setup(settings.device)
    show = context.is_main
    with Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show,
    ) as bar:
        task = bar.add_task("train", total=None)

        def on_step(step: int, total: int) -> None:
            bar.update(task, completed=step, total=total)

        trainer = Trainer(settings, run_dir, on_step=on_step)
        try:
            summary = trainer.fit(resume=resume, overwrite=overwrite)
        finally:
            teardown(context)
    if show:
        for split in ("valid", "test"):
            if split in summary:
                values = ", ".join(f"{k} {v:.4f}" for k, v in summary[split].items())
                out.print(f"{split}: {values}")
        out.print(f"run written to {run_dir}")


@app.command("cv")
def cv_command(
    overrides: Annotated[list[str] | None, typer.Argument(help="config overrides, e.g. epochs=40")] = None,
    config: Annotated[
        Path | None, typer.Option(help="a training recipe (YAML); its tune: block, if any, is ignored")
    ] = None,
    run_dir: Annotated[Path, typer.Option("--run-dir", help="one sub-directory per fold goes here")] = Path(
        "runs/cv"
    ),
    folds: Annotated[
        str | None,
        typer.Option(help="comma-separated folds to hold out, each trained on all others (default: all)"),
    ] = None,
) -> None:
    """Cross-validate: each fold in turn is the test set; prints the mean and spread."""
    from earmark.training.crossval import cross_validate

    settings = load_train_config(config, overrides or [])
    chosen = [int(f) for f in folds.split(",")] if folds else None
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("fold", total=None)

        def on_step(step: int, total: int) -> None:
            bar.update(task, completed=step, total=total)

        def on_fold(fold: int, metrics: dict[str, float]) -> None:
            bar.console.print(f"fold {fold}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))

        def on_reuse(fold: int, how: str) -> None:
            why = {
                "reused": "finished with these settings: not trained again",
                "retrained": "held a run of other settings or labels: trained again",
            }[how]
            bar.console.print(f"fold {fold}: {why}")

        result = cross_validate(
            settings, run_dir, folds=chosen, on_step=on_step, on_fold=on_fold, on_reuse=on_reuse
        )
    for name, mean in result["mean"].items():
        out.print(f"{name}: {mean:.4f} ± {result['std'][name]:.4f} over {len(result['folds'])} folds")
