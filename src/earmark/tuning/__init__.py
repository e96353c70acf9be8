"""Hyper-parameter search over the ranges a recipe's ``tune:`` block declares (``earmark tune``).

* :mod:`~earmark.tuning.space`: ranges and choices over dotted config keys;
* :mod:`~earmark.tuning.config`: the ``tune:`` block, trial configs, and what is refused;
* :mod:`~earmark.tuning.study`: the study loop over any objective, in a resumable SQLite file;
* :mod:`~earmark.tuning.objective`: the training objective (validation data only);
* :mod:`~earmark.tuning.outputs` and :mod:`~earmark.tuning.search`: the search and its files.

Optuna is imported only when a study runs (the ``tune`` extra: ``pip install 'earmark[tune]'``).
"""

from earmark.tuning.config import TuneConfig, TuneRecipe, load_tune_recipe, recipe_from_dict, trial_config
from earmark.tuning.objective import TrainingObjective, inner_fold_labels, search_data
from earmark.tuning.outputs import TrialRow, write_outputs
from earmark.tuning.search import TuneResult, describe_objective, tune
from earmark.tuning.space import Choice, Range, SearchSpace, apply_params, suggest
from earmark.tuning.study import (
    StudySettings,
    TrialContext,
    TuningUnavailable,
    open_study,
    require_optuna,
    run_study,
    trial_counts,
)

__all__ = [
    "Choice",
    "Range",
    "SearchSpace",
    "StudySettings",
    "TrainingObjective",
    "TrialContext",
    "TrialRow",
    "TuneConfig",
    "TuneRecipe",
    "TuneResult",
    "TuningUnavailable",
    "apply_params",
    "describe_objective",
    "inner_fold_labels",
    "load_tune_recipe",
    "open_study",
    "recipe_from_dict",
    "require_optuna",
    "run_study",
    "search_data",
    "suggest",
    "trial_config",
    "trial_counts",
    "tune",
    "write_outputs",
]
