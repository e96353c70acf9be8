"""Nested cross-validation: each outer fold searches its settings on its own training clips.

A plain ``earmark cv`` trains every fold with one set of settings; if those settings were
chosen by looking at any of the folds, every fold's score is optimistic. Here each held-out
fold ``k`` runs the recipe's ``tune:`` search on the other folds only (the search's
validation is its ``inner_folds`` or ``valid_fraction`` share of those clips; fold ``k`` is a
test fold the search never reads), then trains the best trial's config on all of them and
scores fold ``k``. This is how a logistic-regression probe's ``C`` is chosen by
``GridSearchCV`` inside an outer cross-validation, with any earmark recipe.

Layout under the run directory: ``fold-<k>/`` the fold's final run (as ``earmark cv``),
``tune-fold-<k>/`` its search (``study.db``, ``trials.csv``, ``best.yaml``); both resume.
``cv_summary.json`` also holds each fold's chosen settings and their search value.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from earmark.config import ConfigError
from earmark.io import write_text_atomic
from earmark.training.config import DataConfig, TrainConfig
from earmark.training.crossval import cross_validate
from earmark.tuning.config import TuneRecipe, check_validation, trial_config
from earmark.tuning.search import tune
from earmark.tuning.space import apply_params

__all__ = ["fold_recipe", "nested_cross_validate"]


def fold_recipe(recipe: TuneRecipe, data: DataConfig) -> TuneRecipe:
    """``recipe`` restricted to one outer fold: its training folds, that fold as the test fold.

    ``data`` is the fold's data selection (set by
    :func:`~earmark.training.crossval.cross_validate`). The search must still have validation
    data, so one that validated on ``data.valid_folds`` (which an outer fold cannot keep) is
    refused with a message asking for ``tune.inner_folds`` or a held-out share.
    """
    params = {
        "data.train_folds": list(data.train_folds),
        "data.valid_folds": list(data.valid_folds),
        "data.test_folds": list(data.test_folds),
    }
    source = f"{recipe.source} (outer test fold {', '.join(map(str, data.test_folds))})"
    fold = dataclasses.replace(recipe, train=apply_params(recipe.train, params), source=source)
    try:
        check_validation(fold)
    except ConfigError as error:
        raise ConfigError(
            f"{error}; in a nested cross-validation each outer fold searches on its training folds "
            "only: give the tune: block inner_folds (e.g. 4) or valid_fraction (e.g. 0.2)"
        ) from error
    return fold


def nested_cross_validate(
    recipe: TuneRecipe,
    run_dir: str | Path,
    *,
    folds: Sequence[int] | None = None,
    trials: int | None = None,
    on_step: Callable[[int, int], None] | None = None,
    on_fold: Callable[[int, dict[str, Any]], None] | None = None,
    on_reuse: Callable[[int, str], None] | None = None,
    on_search: Callable[[int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Cross-validate ``recipe`` with a search inside every outer fold; ``cv_summary.json``.

    ``trials`` overrides ``tune.trials``. ``on_search(fold, best)`` hears each fold's best
    trial (``number``, ``value``, ``params``) before the fold's final run trains. Returns the
    :func:`~earmark.training.crossval.cross_validate` summary with ``tuned``: per fold, the
    chosen settings and the search's value for them (what the choice rested on).
    """
    run_dir = Path(run_dir)
    chosen: dict[str, dict[str, Any]] = {}

    def searched(fold: int, config: TrainConfig) -> TrainConfig:
        inner = fold_recipe(recipe, config.data)
        result = tune(inner, run_dir / f"tune-fold-{fold}", trials=trials)
        best = result.summary["best"]
        if best is None:
            raise RuntimeError(
                f"outer fold {fold}: no trial of the search finished; see {run_dir / f'tune-fold-{fold}'}"
            )
        chosen[str(fold)] = {"trial": best["number"], "value": best["value"], "params": best["params"]}
        if on_search is not None:
            on_search(fold, chosen[str(fold)])
        return trial_config(inner, best["params"], held_out=False)

    result = cross_validate(
        recipe.base,
        run_dir,
        folds=folds,
        on_step=on_step,
        on_fold=on_fold,
        on_reuse=on_reuse,
        fold_config=searched,
    )
    result["tuned"] = {"metric": recipe.metric, "folds": chosen}
    write_text_atomic(run_dir / "cv_summary.json", json.dumps(result, indent=2))
    return result
