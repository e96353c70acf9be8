"""The training objective of a search: train a trial's config, score it on validation data.

Test folds never take part: :func:`search_data` removes them from the trial's data selection
(the training folds are written out, so the test clips are not trained on either), and with
inner cross-validation (:func:`inner_fold_labels`) the trial trains and validates only on the
recipe's training clips. A trial trains in ``<run-dir>/trials/<number>/`` (one ``fold-<k>``
sub-directory per inner fold) with the one :class:`~earmark.training.trainer.Trainer`.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from earmark.data.labels import Labels
from earmark.training.config import DataConfig, TrainConfig
from earmark.tuning.config import TuneRecipe, trial_config
from earmark.tuning.study import TrialContext, require_optuna

__all__ = ["TrainingObjective", "inner_fold_labels", "search_data"]


def search_data(data: DataConfig, labels: Labels) -> DataConfig:
    """``data`` without its test folds, training on exactly the clips it trained on before.

    Without ``train_folds``, training takes every fold not held out; dropping the test folds
    would add them to training, so the training folds are listed explicitly instead.
    """
    if not data.test_folds:
        return data
    train_folds = data.train_folds
    if not train_folds:
        held = set(data.valid_folds) | set(data.test_folds)
        train_folds = tuple(int(f) for f in np.unique(labels.fold) if int(f) not in held)
    return dataclasses.replace(data, train_folds=train_folds, test_folds=())


def inner_fold_labels(
    labels: Labels, data: DataConfig, *, folds: int, seed: int, groups: np.ndarray | None = None
) -> Labels:
    """The recipe's training clips (no valid, no test clip) with folds ``1..folds`` for inner CV.

    Folds are stratified by class and keep each group (``groups``: one key per clip of
    ``labels``) in one fold (:func:`earmark.data.folds.assign_folds`).
    """
    from earmark.data.folds import assign_folds
    from earmark.training.selection import select_splits

    train = select_splits(labels, dataclasses.replace(data, valid_fraction=0.0), seed=seed)["train"]
    keys = None
    if groups is not None:
        row = {clip: i for i, clip in enumerate(labels.clip_ids.tolist())}
        keys = np.asarray(groups)[[row[c] for c in train.clip_ids.tolist()]]
    fold = assign_folds(train.positive, folds=folds, seed=seed, groups=keys)
    return dataclasses.replace(train, fold=fold)


class TrainingObjective:
    """``objective(params, context) -> value`` that trains the trial and reads its validation metric.

    Parameters
    ----------
    recipe : TuneRecipe
        The recipe and its ``tune:`` block.
    run_dir : path
        The search's run directory (trials go to ``trials/<number>/``).
    labels : Labels
        The recipe's label table (for its folds).
    inner_table : path, optional
        The inner-CV label table (:func:`inner_fold_labels`, written); required when
        ``recipe.tune.inner_folds`` > 1.

    """

    def __init__(
        self, recipe: TuneRecipe, run_dir: str | Path, labels: Labels, *, inner_table: Path | None = None
    ) -> None:
        if recipe.tune.inner_folds > 1 and inner_table is None:
            raise ValueError("inner cross-validation needs the inner fold table")
        self.recipe = recipe
        self.run_dir = Path(run_dir)
        self.labels = labels
        self.inner_table = inner_table

    def config(self, params: dict[str, Any]) -> TrainConfig:
        """The config a trial with ``params`` trains: no test folds, no report."""
        config = trial_config(self.recipe, params)
        return dataclasses.replace(config, data=search_data(config.data, self.labels), report=False)

    def __call__(self, params: dict[str, Any], context: TrialContext) -> float:
        """Train the trial (pruned on its validation curve) and return its validation metric."""
        config = self.config(params)
        trial_dir = self.run_dir / "trials" / str(context.number)
        if self.recipe.tune.inner_folds > 1:
            return self._cross_validated(config, trial_dir, context)
        return self._validated(config, trial_dir, context)

    def _train(
        self,
        config: TrainConfig,
        run_dir: Path,
        context: TrialContext,
        *,
        on_validation: Any,
        steps_before: int,
    ) -> tuple[float, int]:
        """One run: its validation metric (of its best checkpoint) and steps; a diverged run is pruned.

        The trial's ``steps`` note (``steps_before`` + this run's) is kept even when it is pruned.
        """
        from earmark.training.trainer import Trainer, TrainingDiverged

        optuna = require_optuna()
        trainer = Trainer(config, run_dir, on_validation=on_validation)
        try:
            summary = trainer.fit()
        except TrainingDiverged as error:
            context.note("diverged", str(error))
            raise optuna.TrialPruned(f"trial {context.number} diverged: {error}") from error
        finally:
            context.note("steps", steps_before + trainer.step)
        return float(summary["valid"][config.metric]), trainer.step

    def _validated(self, config: TrainConfig, trial_dir: Path, context: TrialContext) -> float:
        count = itertools.count(1)

        def on_validation(step: int, metrics: dict[str, float]) -> None:
            context.report(next(count), metrics[config.metric])

        value, _ = self._train(config, trial_dir, context, on_validation=on_validation, steps_before=0)
        return value

    def _cross_validated(self, config: TrainConfig, trial_dir: Path, context: TrialContext) -> float:
        folds = self.recipe.tune.inner_folds
        values: list[float] = []
        steps = 0
        for fold in range(1, folds + 1):
            data = DataConfig(
                prepared=config.data.prepared,
                labels=str(self.inner_table),
                train_folds=tuple(k for k in range(1, folds + 1) if k != fold),
                valid_folds=(fold,),
            )
            fold_config = dataclasses.replace(config, data=data)
            value, fold_steps = self._train(
                fold_config, trial_dir / f"fold-{fold}", context, on_validation=None, steps_before=steps
            )
            values.append(value)
            steps += fold_steps
            context.report(fold, float(np.mean(values)))
        return float(np.mean(values))
