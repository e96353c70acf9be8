"""The ``tune:`` block of a training recipe, and the configs of a search's trials.

A recipe (what ``earmark train --config`` reads) may hold a ``tune:`` block; ``earmark train``
drops it, ``earmark tune`` reads it as a :class:`TuneConfig`. Each trial's config is the recipe
with the drawn values written over it, built strictly (:func:`trial_config`); the whole space is
checked this way at load time (:func:`check_space`), so a misspelled key fails before any
training. The objective is always read on validation data: a block asking for the test split,
or a recipe without any validation, is refused (:func:`check_validation`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from earmark.config import (
    ConfigError,
    NonNegativeInt,
    Range,
    apply_overrides,
    check_ranges,
    from_dict,
    load_yaml,
    to_dict,
)
from earmark.training.config import TrainConfig, check_group_pattern
from earmark.training.resolve import resolve
from earmark.tuning.space import SearchSpace, apply_params

__all__ = [
    "TuneConfig",
    "TuneRecipe",
    "check_space",
    "check_validation",
    "load_tune_recipe",
    "recipe_from_dict",
    "split_tune_block",
    "trial_config",
]

_NOT_SEARCHED = ("data", "metric", "report", "tune")


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """How to search: the space, the budget, the objective and the pruning.

    ``trials`` counts finished trials (complete or pruned); ``metric`` defaults to the recipe's
    ``metric`` and is always measured on validation data: the recipe's ``data.valid_folds`` /
    ``data.valid_fraction``, or, with ``inner_folds`` k > 1, a k-fold cross-validation over the
    recipe's training clips, or ``valid_fraction``: a seeded share of the training recordings held
    out for the search only (the recipe itself then trains on all of them, with the settings
    found). ``group_pattern`` keeps the clips of one recording together (in the
    held-out share and the inner folds). ``pruner: median`` stops a trial whose best value so far
    is below the median of earlier trials at the same validation, once ``startup_trials`` trials
    have finished and after ``warmup_validations`` validations of the trial.
    """

    space: SearchSpace = dataclasses.field(default_factory=SearchSpace)
    trials: Annotated[int, Range(ge=1, le=1_000_000)] = 20
    metric: str | None = None
    direction: str = "maximize"
    objective_split: str = "valid"
    inner_folds: Annotated[int, Range(ge=0, le=1000)] = 0
    valid_fraction: Annotated[float, Range(ge=0, lt=1)] = 0.0
    group_pattern: str | None = None
    pruner: Literal["median", "none"] = "median"
    startup_trials: NonNegativeInt = 5
    warmup_validations: NonNegativeInt = 0
    seed: NonNegativeInt = 0

    def __post_init__(self) -> None:
        check_ranges(self, key="tune")
        if not self.space.parameters:
            raise ConfigError(
                "tune.space is empty; add a dotted key such as optim.lr: {low: 1.0e-4, high: 1.0e-2}"
            )
        for name in self.space.parameters:
            if name.split(".")[0] in _NOT_SEARCHED:
                raise ConfigError(
                    f"tune.space.{name}: {', '.join(_NOT_SEARCHED)} are not searched (they decide what "
                    "is trained and scored); set them in the recipe"
                )
        if self.trials < 1:
            raise ConfigError(f"tune.trials must be at least 1, got {self.trials}")
        if self.objective_split != "valid":
            raise ConfigError(
                f"tune.objective_split is {self.objective_split!r}: a search reads its objective on "
                "validation data only, never on the test folds; set objective_split: valid and give "
                "the recipe data.valid_folds, data.valid_fraction or tune.inner_folds"
            )
        if self.direction != "maximize":
            raise ConfigError(
                f"tune.direction is {self.direction!r}: every earmark metric is higher-is-better and "
                "the trainer keeps the highest, so direction must be maximize"
            )
        if self.inner_folds == 1 or self.inner_folds < 0:
            raise ConfigError(
                f"tune.inner_folds must be 0 (no inner CV) or at least 2, got {self.inner_folds}"
            )
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ConfigError(f"tune.valid_fraction must be in [0, 1), got {self.valid_fraction}")
        if self.valid_fraction and self.inner_folds:
            raise ConfigError("give tune.valid_fraction or tune.inner_folds, not both")
        if self.group_pattern is not None:
            check_group_pattern(self.group_pattern, "tune.group_pattern")
        if self.startup_trials < 0 or self.warmup_validations < 0:
            raise ConfigError("tune.startup_trials and tune.warmup_validations must be >= 0")


@dataclasses.dataclass(frozen=True)
class TuneRecipe:
    """A recipe split in two: the training part (a nested dict) and its ``tune:`` block."""

    train: dict[str, Any]
    tune: TuneConfig
    source: str = "recipe"

    @property
    def metric(self) -> str:
        """The metric searched: ``tune.metric``, else the recipe's ``metric``."""
        return self.tune.metric or self.base.metric

    @property
    def group_pattern(self) -> str | None:
        """``tune.group_pattern``, else the recipe's ``data.group_pattern``."""
        return self.tune.group_pattern or self.base.data.group_pattern

    @property
    def base(self) -> TrainConfig:
        """The recipe's training config as written (no value drawn)."""
        return from_dict(TrainConfig, self.train)

    def fingerprint(self) -> str:
        """A hash of what defines the objective: the training config, the space and the scoring.

        The budget and the pruner are left out: a search may be resumed with more trials.
        """
        tune = to_dict(self.tune)
        for name in ("trials", "pruner", "startup_trials", "warmup_validations"):
            tune.pop(name)
        text = json.dumps({"train": to_dict(self.base), "tune": tune}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def split_tune_block(data: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """``(training part, tune block or None)`` of a recipe's top-level mapping."""
    train = {k: v for k, v in data.items() if k != "tune"}
    return train, data.get("tune")


def recipe_from_dict(data: Mapping[str, Any], *, source: str = "recipe") -> TuneRecipe:
    """A :class:`TuneRecipe` from a recipe mapping, checked (space, metric, validation)."""
    train, block = split_tune_block(data)
    if block is None:
        raise ConfigError(
            f"{source} holds no tune: block; add one with a space, e.g. "
            "tune: {trials: 20, space: {optim.lr: {low: 1.0e-4, high: 1.0e-2, log: true}}}"
        )
    recipe = TuneRecipe(train=train, tune=from_dict(TuneConfig, block, key="tune"), source=source)
    try:
        resolve(recipe.base)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from error
    _check_metric(recipe.metric)
    check_validation(recipe)
    check_space(recipe)
    return recipe


def load_tune_recipe(path: str | Path, overrides: Sequence[str] = ()) -> TuneRecipe:
    """Read recipe ``path``, apply ``key=value`` overrides (``tune.trials=5`` too), and check it."""
    return recipe_from_dict(apply_overrides(load_yaml(path), overrides), source=str(path))


def _check_metric(name: str) -> None:
    from earmark.metrics import scalar_metric

    try:
        scalar_metric(name)
    except ValueError as error:
        raise ConfigError(f"tune.metric: {error}") from error


def check_validation(recipe: TuneRecipe) -> None:
    """``ConfigError`` unless the search has validation data to read its objective on."""
    data = recipe.base.data
    tune = recipe.tune
    if not tune.inner_folds and not tune.valid_fraction and not data.valid_folds and not data.valid_fraction:
        raise ConfigError(
            f"{recipe.source}: the search has no validation data, and its objective is never read on "
            "the test folds; set data.valid_folds (e.g. [4]), data.valid_fraction (e.g. 0.2), "
            "tune.valid_fraction (held out for the search only) or tune.inner_folds (e.g. 4)"
        )


def trial_config(recipe: TuneRecipe, params: Mapping[str, Any], *, held_out: bool = True) -> TrainConfig:
    """The full config of one trial: the recipe with ``params`` written over it, built strictly.

    Resolved (:func:`~earmark.training.resolve.resolve`): its model, strategy and augmentation
    options hold their full values, so a drawn ``model_options.dropuot`` fails at load time.

    Its ``metric`` is the searched metric (the trial keeps its best checkpoint by it) and its
    ``data.group_pattern`` the search's. The data selection is the recipe's, test folds included:
    :func:`earmark.tuning.objective.search_data` removes them for the search itself. With
    ``held_out`` False the share ``tune.valid_fraction`` holds out for the search is left out:
    the config the recipe trains with once the search is done (``best.yaml``).
    """
    data = apply_params(recipe.train, params)
    data["metric"] = recipe.metric
    if held_out and recipe.tune.valid_fraction:  # the search's own held-out share
        data.setdefault("data", {})["valid_fraction"] = recipe.tune.valid_fraction
    if recipe.group_pattern is not None:
        data.setdefault("data", {})["group_pattern"] = recipe.group_pattern
    return resolve(from_dict(TrainConfig, data))


def check_space(recipe: TuneRecipe) -> None:
    """Build a trial config for every end of every range and every choice; errors name the key."""
    for name, parameter in recipe.tune.space.parameters.items():
        for value in parameter.extremes():
            try:
                trial_config(recipe, {name: value})
            except ConfigError as error:
                raise ConfigError(f"tune.space.{name} = {value!r}: {error}") from error
