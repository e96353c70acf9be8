"""``earmark train``: one run from a recipe, with ``key=value`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from earmark.cli.app import app, out
from earmark.cli.progress import DEFAULT_EVERY_SECONDS, ProgressReport
from earmark.config import ConfigError, apply_overrides, from_dict, load_yaml

if TYPE_CHECKING:
    from earmark.training.config import TrainConfig
    from earmark.tuning import TuneRecipe

Quiet = Annotated[bool, typer.Option("--quiet", help="no progress bar or progress lines")]
ProgressSeconds = Annotated[
    float, typer.Option(help="seconds between progress lines when stdout is not a terminal (a log file)")
]


def _tune_recipe(path: Path | None, overrides: list[str]) -> TuneRecipe:
    """The recipe with its ``tune:`` block, for ``cv --tune``; Optuna must be installed."""
    import logging

    from earmark.tuning import load_tune_recipe, require_optuna

    if path is None:
        raise typer.BadParameter("--tune needs --config: a recipe with a tune: block")
    recipe = load_tune_recipe(path, overrides)
    require_optuna().logging.set_verbosity(logging.WARNING)  # the folds' notes say what was chosen
    return recipe


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
    quiet: Quiet = False,
    progress_seconds: ProgressSeconds = DEFAULT_EVERY_SECONDS,
) -> None:
    """Train a tagger; the run directory receives config, checkpoints, metrics and predictions."""
    from earmark.training.distributed import run_and_leave, setup
    from earmark.training.trainer import Trainer

    settings = load_train_config(config, overrides or [])
    context = setup(settings.device)
    show = context.is_main
    report = ProgressReport("train", unit="steps", quiet=quiet or not show, every_seconds=progress_seconds)
    with report:

        def on_step(step: int, total: int) -> None:
            budget = trainer.clock.budget  # max_minutes stops the run before its last step
            left = None if budget is None else budget - trainer.clock.seconds
            report.update(step, total, {"loss": trainer.last_losses.get("total", float("nan"))}, left)

        def on_validation(step: int, metrics: dict[str, float]) -> None:
            report.update(step, extras={f"valid {settings.metric}": metrics[settings.metric]})

        trainer = Trainer(settings, run_dir, on_step=on_step, on_validation=on_validation)
        summary = run_and_leave(context, lambda: trainer.fit(resume=resume, overwrite=overwrite))
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
        Path | None,
        typer.Option(help="a training recipe (YAML); its tune: block is used only with --tune"),
    ] = None,
    run_dir: Annotated[Path, typer.Option("--run-dir", help="one sub-directory per fold goes here")] = Path(
        "runs/cv"
    ),
    tune: Annotated[
        bool,
        typer.Option(
            "--tune",
            help="nested CV: each fold first runs the recipe's tune: search on its own training folds "
            "(tune.inner_folds or tune.valid_fraction), then trains the best settings",
        ),
    ] = False,
    trials: Annotated[
        int | None, typer.Option(help="with --tune: finished trials per fold (default: tune.trials)", min=1)
    ] = None,
    folds: Annotated[
        str | None,
        typer.Option(help="comma-separated folds to hold out, each trained on all others (default: all)"),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            help="folds trained at once on the CPU, each in its own process with its share of the "
            "torch threads (not with --tune, not on a GPU)",
            min=1,
        ),
    ] = 1,
    quiet: Quiet = False,
    progress_seconds: ProgressSeconds = DEFAULT_EVERY_SECONDS,
) -> None:
    """Cross-validate: each fold in turn is the test set; prints the mean and spread.

    With --tune each fold's settings are searched on that fold's training clips only (nested
    cross-validation): no fold's score rests on settings chosen by looking at it. With --jobs 2
    on a two-core machine two folds train side by side, one thread each.
    """
    from earmark.training.crossval import cross_validate

    if trials is not None and not tune:
        raise typer.BadParameter("--trials is for --tune (nested cross-validation)")
    if jobs > 1 and tune:
        raise typer.BadParameter("--jobs is for plain cross-validation; --tune runs one fold at a time")
    recipe = _tune_recipe(config, overrides or []) if tune else None
    settings = recipe.base if recipe is not None else load_train_config(config, overrides or [])
    chosen = [int(f) for f in folds.split(",")] if folds else None
    with ProgressReport("fold", unit="steps", quiet=quiet, every_seconds=progress_seconds) as report:
        fold_ended: list[float | None] = [None]

        def on_step(step: int, total: int) -> None:
            if fold_ended[0] is not None:  # the next fold: its own rate and ETA, set-up included
                report.restart(fold_ended[0])
                fold_ended[0] = None
            budget = None if settings.max_minutes is None else 60 * settings.max_minutes
            report.update(
                step, total, seconds_left=None if budget is None else budget - report.elapsed_seconds
            )

        def on_fold(fold: int, metrics: dict[str, float]) -> None:
            report.note(f"fold {fold}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
            fold_ended[0] = report.clock()

        def on_reuse(fold: int, how: str) -> None:
            why = {
                "reused": "finished with these settings: not trained again",
                "retrained": "held a run of other settings or labels: trained again",
            }[how]
            report.note(f"fold {fold}: {why}")

        if recipe is None:
            if jobs > 1:
                report.note(
                    f"training {jobs} folds at a time, each in its own process (per-fold logs in {run_dir})"
                )
            result = cross_validate(
                settings,
                run_dir,
                folds=chosen,
                on_step=on_step,
                on_fold=on_fold,
                on_reuse=on_reuse,
                jobs=jobs,
            )
        else:
            from earmark.tuning.nested import nested_cross_validate

            def on_search(fold: int, best: dict[str, Any]) -> None:
                params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
                report.note(f"fold {fold}: search chose {params} (valid {recipe.metric} {best['value']:.4f})")
                fold_ended[0] = report.clock()  # the fold's rate and ETA count its training only

            result = nested_cross_validate(
                recipe,
                run_dir,
                folds=chosen,
                trials=trials,
                on_step=on_step,
                on_fold=on_fold,
                on_reuse=on_reuse,
                on_search=on_search,
            )
    for name, mean in result["mean"].items():
        out.print(f"{name}: {mean:.4f} ± {result['std'][name]:.4f} over {len(result['folds'])} folds")
