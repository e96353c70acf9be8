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

import torch

from earmark.config import dump_yaml, to_dict
from earmark.data.labels import Labels
from earmark.data.table import read_labels, write_labels
from earmark.io import write_bytes_atomic
from earmark.training.processes import side_by_side_pool, thread_share, uses_cuda
from earmark.tuning.config import TuneRecipe
from earmark.tuning.objective import TrainingObjective, inner_fold_labels
from earmark.tuning.outputs import TrialRow, trial_rows, write_outputs
from earmark.tuning.study import StudySettings, require_optuna, run_study

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


def _search_beside(recipe: TuneRecipe, run_dir: Path, timeout_minutes: float | None, verbosity: int) -> None:
    """A helper process's share of a ``jobs > 1`` search, logging as quietly as its parent."""
    require_optuna().logging.set_verbosity(verbosity)
    tune(recipe, run_dir, timeout_minutes=timeout_minutes)


def tune(
    recipe: TuneRecipe,
    run_dir: str | Path,
    *,
    trials: int | None = None,
    timeout_minutes: float | None = None,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
    jobs: int = 1,
) -> TuneResult:
    """Search ``recipe``'s space until ``trials`` (default ``tune.trials``) trials have finished.

    No trial starts after ``timeout_minutes``. Rerunning on the same ``run_dir`` resumes the
    search; the outputs are written again at the end of every run.

    ``jobs > 1`` runs that many trials at once on the CPU: this process and ``jobs − 1`` spawned
    ones share the study, each with its share of the torch threads
    (:mod:`earmark.training.processes`); ``on_trial`` sees this process's trials. Each trial's
    sampler is seeded by its number, so the draws do not depend on which process ran it.
    """
    run_dir = Path(run_dir)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs > 1 and uses_cuda(recipe.base.device):
        raise ValueError(
            f"jobs > 1 runs trials side by side on the CPU, but device {recipe.base.device!r} is a GPU; "
            "start one `earmark tune` per GPU on the same --run-dir instead"
        )
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

    def search() -> optuna.Study:
        path = run_dir / "study.db"
        return run_study(
            objective, recipe.tune.space, path, settings, fingerprint=recipe.fingerprint(), on_trial=on_trial
        )

    if jobs == 1:
        study = search()
    else:
        threads, kept = thread_share(jobs), torch.get_num_threads()
        verbosity = require_optuna().logging.get_verbosity()
        with side_by_side_pool(jobs - 1, threads) as pool:
            others = [
                pool.submit(_search_beside, recipe, run_dir, timeout_minutes, verbosity)
                for _ in range(jobs - 1)
            ]
            torch.set_num_threads(threads)
            try:
                study = search()
            finally:
                torch.set_num_threads(kept)
            for other in others:
                other.result()  # raises a helper's error here
    summary = write_outputs(study, recipe, run_dir, objective=describe_objective(recipe))
    return TuneResult(rows=trial_rows(study, recipe.tune.space), summary=summary)
