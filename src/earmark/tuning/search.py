"""``tune``: a hyper-parameter search over the ranges of a recipe's ``tune:`` block.

The run directory holds ``recipe.yaml`` (the recipe as searched, overrides applied),
``study.db`` (the Optuna study; a rerun resumes it, several processes may share it),
``trials/<number>/`` (each trial's training run), ``inner-folds.csv`` (with inner CV), and
the outputs of :func:`earmark.tuning.outputs.write_outputs`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from earmark.config import dump_yaml, to_dict
from earmark.data.labels import Labels
from earmark.data.table import read_labels, write_labels
from earmark.io import write_bytes_atomic
from earmark.tuning.config import TuneRecipe
from earmark.tuning.objective import TrainingObjective, inner_fold_labels
from earmark.tuning.outputs import TrialRow, trial_rows, write_outputs
from earmark.tuning.study import StudySettings, run_study

if TYPE_CHECKING:
    import optuna

__all__ = ["TuneResult", "describe_objective", "tune"]


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """A finished (or timed-out) search: its trials and the summary written to ``summary.json``."""

    rows: list[TrialRow]
    summary: dict[str, Any]


def describe_objective(recipe: TuneRecipe) -> str:
    """In words, what a trial's value is, e.g. ``valid accuracy on data.valid_folds [4]``."""
    data, metric = recipe.base.data, recipe.metric
    if recipe.tune.inner_folds > 1:
        where = f"mean valid {metric} over {recipe.tune.inner_folds} inner folds of the training clips"
    elif data.valid_folds:
        where = f"valid {metric} on data.valid_folds {list(data.valid_folds)}"
    elif recipe.tune.valid_fraction:
        where = f"valid {metric} on a held-out tune.valid_fraction {recipe.tune.valid_fraction}"
    else:
        where = f"valid {metric} on a held-out data.valid_fraction {data.valid_fraction}"
    if recipe.group_pattern is not None and (recipe.tune.inner_folds > 1 or not data.valid_folds):
        where += f", whole groups of {recipe.group_pattern}"
    return where


def _write_inner_folds(recipe: TuneRecipe, labels: Labels, run_dir: Path) -> Path:
    """Write the inner-CV fold table (the same in every process: seeded) atomically; its path."""
    from earmark.data.groups import group_keys

    table = inner_fold_labels(
        labels,
        recipe.base.data,
        folds=recipe.tune.inner_folds,
        seed=recipe.tune.seed,
        groups=group_keys(labels.clip_ids, recipe.group_pattern),
    )
    return write_labels(table, run_dir / "inner-folds.csv")


def tune(
    recipe: TuneRecipe,
    run_dir: str | Path,
    *,
    trials: int | None = None,
    timeout_minutes: float | None = None,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> TuneResult:
    """Search ``recipe``'s space until ``trials`` (default ``tune.trials``) trials have finished.

    No trial starts after ``timeout_minutes``. Rerunning on the same ``run_dir`` resumes the
    search; the outputs are written again at the end of every run.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if trials is not None:
        recipe = dataclasses.replace(recipe, tune=dataclasses.replace(recipe.tune, trials=trials))
    searched = {**recipe.train, "tune": to_dict(recipe.tune)}
    write_bytes_atomic(run_dir / "recipe.yaml", dump_yaml(searched).encode("utf-8"))
    data = recipe.base.data
    labels = read_labels(data.label_table)
    inner_table = _write_inner_folds(recipe, labels, run_dir) if recipe.tune.inner_folds > 1 else None
    objective = TrainingObjective(recipe, run_dir, labels, inner_table=inner_table)
    settings = StudySettings(
        trials=recipe.tune.trials,
        direction="maximize",
        seed=recipe.tune.seed,
        pruner=recipe.tune.pruner,
        startup_trials=recipe.tune.startup_trials,
        warmup_steps=recipe.tune.warmup_validations,
        timeout_seconds=None if timeout_minutes is None else 60.0 * timeout_minutes,
    )
    study = run_study(
        objective,
        recipe.tune.space,
        run_dir / "study.db",
        settings,
        fingerprint=recipe.fingerprint(),
        on_trial=on_trial,
    )
    summary = write_outputs(study, recipe, run_dir, objective=describe_objective(recipe))
    return TuneResult(rows=trial_rows(study, recipe.tune.space), summary=summary)
