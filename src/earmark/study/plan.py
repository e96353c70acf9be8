"""A study's runs: one per arm, seed and held-out fold, each with its directory and settings.

Layout under the study's output directory::

    runs/<arm>/s<seed>[-f<fold>]/              a train arm's run directory
    pipelines/<recipe>-<hash>/s<seed>[-f<fold>]/<stage>/   a pipeline arm's stage run

Pipeline arms that share a recipe and ``train`` mapping share one pipeline run per cell: the
recipe runs once and each arm scores its own stage. In a pipeline recipe, ``{seed}`` and
``{fold}`` are the cell's (per-cell label tables, say) and ``{pipeline}`` the cell's pipeline
directory (``{pipeline}/clean/audit.csv``: a file another stage wrote).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from earmark.config import ConfigError, from_dict, load_yaml
from earmark.pipeline.recipe import Recipe, deep_merge, recipe_from_dict
from earmark.study.config import RUN_REFERENCE, ArmConfig, StudyConfig
from earmark.training.config import TrainConfig
from earmark.training.resolve import resolve

__all__ = ["Cell", "PlannedRun", "cells", "merge_arm", "plan_cell", "stages_needed"]

CELL_TOKENS = re.compile(r"\{(seed|fold)\}")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One seed and, in a cross-validated study, the held-out fold."""

    seed: int
    fold: int | None = None

    @property
    def name(self) -> str:
        """``s<seed>`` or ``s<seed>-f<fold>``: the cell's directory name."""
        return f"s{self.seed}" if self.fold is None else f"s{self.seed}-f{self.fold}"


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One arm in one cell.

    ``run_dir`` holds the run whose ``predictions/test.npz`` the arm is scored on. A train arm
    has ``config``; a pipeline arm has ``recipe`` and ``pipeline_dir`` (the pipeline's output,
    shared by the arms of the same recipe).
    """

    arm: ArmConfig
    cell: Cell
    run_dir: Path
    config: TrainConfig | None = None
    recipe: Recipe | None = None
    pipeline_dir: Path | None = None


def cells(study: StudyConfig, *, seeds: tuple[int, ...] | None = None) -> list[Cell]:
    """Every cell of the study (or of ``seeds``), seed by seed: a stopped study has whole seeds."""
    chosen = study.seeds if seeds is None else seeds
    unknown = [s for s in chosen if s not in study.seeds]
    if unknown:
        raise ConfigError(f"seeds {unknown} are not in the study's seeds {list(study.seeds)}")
    folds: tuple[int | None, ...] = study.held_out or study.folds or (None,)
    return [Cell(seed, fold) for seed in chosen for fold in folds]


def plan_cell(study: StudyConfig, cell: Cell, out: Path) -> list[PlannedRun]:
    """The runs of ``cell``, in the arms' order, with references between arms filled in."""
    planned: list[PlannedRun] = []
    directories: dict[str, Path] = {}
    for arm in study.arms:
        mapping = _substitute(arm.train, cell, directories)
        if arm.pipeline is None:
            run_dir = out / "runs" / arm.name / cell.name
            config = _train_config(study, mapping, cell, f"arm {arm.name}")
            planned.append(PlannedRun(arm, cell, run_dir, config=config))
        else:
            assert arm.stage is not None  # checked by ArmConfig
            key = _pipeline_key(arm.pipeline, mapping)
            pipeline_dir = out / "pipelines" / key / cell.name
            recipe = _recipe(study, arm, mapping, cell, pipeline_dir)
            recipe.stage(arm.stage)  # an unknown stage fails here, naming the known ones
            run_dir = pipeline_dir / arm.stage
            planned.append(PlannedRun(arm, cell, run_dir, recipe=recipe, pipeline_dir=pipeline_dir))
        directories[arm.name] = planned[-1].run_dir
    return planned


def _train_config(study: StudyConfig, arm_train: Mapping[str, Any], cell: Cell, where: str) -> TrainConfig:
    base: dict[str, Any] = {}
    if study.base:
        base = load_yaml(study.base)
        base.pop("tune", None)
    data = merge_arm(deep_merge(base, study.train), arm_train)
    data["seed"] = cell.seed
    data["data"] = {**dict(data.get("data") or {}), **_split(study, cell, arm_train)}
    try:
        return resolve(from_dict(TrainConfig, data))
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from error


#: An arm that names one of these chooses its options afresh: the base's options belong to
#: the base's choice (a Mean Teacher's ``alpha`` means nothing to ``supervised``).
OWNED_OPTIONS = {"strategy": "strategy_options", "model": "model_options"}


def merge_arm(base: Mapping[str, Any], arm_train: Mapping[str, Any]) -> dict[str, Any]:
    """``arm_train`` deep-merged over ``base``; a strategy or model it names starts from its own options."""
    base = dict(base)
    for choice, options in OWNED_OPTIONS.items():
        if choice in arm_train:
            base.pop(options, None)
    return deep_merge(base, arm_train)


def _split(study: StudyConfig, cell: Cell, arm_train: Mapping[str, Any]) -> dict[str, Any]:
    """The data keys a cell sets: its labels and, in a cross-validated study, its folds.

    An arm that names its own ``data.labels`` (a reference trained on the true labels, say)
    keeps them.
    """
    keys: dict[str, Any] = {}
    if study.labels and "labels" not in (arm_train.get("data") or {}):
        keys["labels"] = _fill(study.labels, cell)
    if cell.fold is not None:
        folds = list(study.folds)
        valid = folds[(folds.index(cell.fold) + 1) % len(folds)] if study.valid == "next" else None
        keys["test_folds"] = [cell.fold]
        keys["valid_folds"] = [valid] if valid is not None else []
        keys["train_folds"] = [f for f in folds if f not in (cell.fold, valid)]
    return keys


def _recipe(
    study: StudyConfig, arm: ArmConfig, arm_train: Mapping[str, Any], cell: Cell, pipeline_dir: Path
) -> Recipe:
    assert arm.pipeline is not None
    data = _substitute(load_yaml(arm.pipeline), cell, {}, pipeline_dir)
    train = merge_arm(deep_merge(dict(data.get("train") or {}), study.train), arm_train)
    split = _split(study, cell, arm_train)
    if "labels" in split:
        data["labels"] = split.pop("labels")
    prepared = (train.get("data") or {}).get("prepared")
    if prepared:
        data["prepared"] = prepared
    train["seed"] = cell.seed
    train["data"] = {**dict(train.get("data") or {}), **split}
    train["data"].pop("prepared", None)  # the recipe's top-level prepared is what stages read
    data["train"] = train
    data["out"] = str(pipeline_dir)
    return recipe_from_dict(data, source=f"{arm.pipeline} (arm {arm.name}, {cell.name})")


def _pipeline_key(path: str, train: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps([path, train], sort_keys=True, default=str).encode()).hexdigest()
    return f"{Path(path).stem}-{digest[:8]}"


def _fill(text: str, cell: Cell) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "seed":
            return str(cell.seed)
        if cell.fold is None:
            raise ConfigError(f"{text!r} names {{fold}}, but the study has no folds")
        return str(cell.fold)

    return CELL_TOKENS.sub(replace, text)


def _substitute(
    value: Any, cell: Cell, directories: Mapping[str, Path], pipeline_dir: Path | None = None
) -> Any:
    if isinstance(value, str):
        filled = _fill(value, cell)
        if pipeline_dir is not None:
            filled = filled.replace("{pipeline}", str(pipeline_dir))
        return RUN_REFERENCE.sub(lambda m: str(directories[m.group(1)]), filled)
    if isinstance(value, Mapping):
        return {key: _substitute(item, cell, directories, pipeline_dir) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_substitute(item, cell, directories, pipeline_dir) for item in value]
    return value


def stages_needed(recipe: Recipe, scored: set[str], pipeline_dir: Path) -> Recipe:
    """``recipe`` with only the stages the scored ones are, or use (others would be wasted).

    A stage uses another when it names it (``labels_from``, ``init_from``, ``model_from``,
    ``edits_from``) or reads a file in its directory (``{pipeline}/<stage>/...``).
    """
    by_name = {stage.name: stage for stage in recipe.stages}
    needed: set[str] = set()
    waiting = list(scored)
    while waiting:
        name = waiting.pop()
        if name in needed:
            continue
        needed.add(name)
        stage = by_name[name]
        for field in getattr(stage.options, "references", {}):
            used = getattr(stage.options, field, None)
            waiting += [used] if isinstance(used, str) else list(used or ())
        text = json.dumps(stage.definition, default=str)
        waiting += [other for other in by_name if f"{pipeline_dir / other}{os.sep}" in text]
    return dataclasses.replace(recipe, stages=tuple(s for s in recipe.stages if s.name in needed))
