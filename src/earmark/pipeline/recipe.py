"""Pipeline recipes: a YAML file listing stages, loaded strictly, references checked up front.

A recipe::

    prepared: runs/demo/esc10          # the prepared directory every stage reads
    labels: null                       # a label table replacing prepared/labels.csv (optional)
    out: runs/pipelines/esc            # where the stages' run directories go (default:
                                       # runs/pipelines/<recipe file name>)
    train:                             # the training config every train stage starts from
      model: resnet
      data: {test_folds: [5]}
    stages:
      - {name: warmup, kind: select, per_class: 50}
      - {name: stage0, kind: train, labels_from: warmup, train: {data: {train_sources: [noisy]}}}
      - {name: stage1, kind: train, init_from: stage0, train: {data: {train_sources: [curated]}}}

Errors name the recipe file and the line of the stage at fault: an unknown key, an unknown
or later stage named by ``labels_from`` / ``init_from`` / ``model_from`` / ``edits_from``, a stage
of the wrong kind there, a training config that does not build (every train stage's and
out-of-fold filter's, resolved through the registries: a misspelled model, strategy or
augmentation option fails here, before the first stage runs). Overrides (``--set``) address
``prepared``, ``labels``, ``out``, ``train.<key>`` and ``stages.<stage name>.<key>``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from earmark.config import ConfigError, apply_overrides, from_dict, load_yaml
from earmark.pipeline.stages import KINDS, FilterStage, StageOptions, TrainStage
from earmark.training.config import TrainConfig
from earmark.training.resolve import resolve

__all__ = ["Recipe", "Stage", "deep_merge", "load_recipe", "recipe_from_dict"]

_TOP_KEYS = ("prepared", "labels", "out", "train", "stages")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of a recipe: its name, kind, options and where the recipe defines it."""

    name: str
    kind: str
    options: StageOptions
    line: int
    definition: dict[str, Any]  # the stage as written (after overrides), for change detection

    def where(self, recipe: Recipe) -> str:
        """``stage 'name' (file, line N)`` for messages."""
        return f"stage {self.name!r} ({recipe.source}, line {self.line})"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A loaded, checked recipe."""

    prepared: str
    labels: str | None
    out: str
    train: dict[str, Any]
    stages: tuple[Stage, ...]
    source: str = "recipe"

    def stage(self, name: str) -> Stage:
        """The stage called ``name``; an unknown name raises with the known ones listed."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        known = ", ".join(s.name for s in self.stages)
        raise ConfigError(f"{self.source}: no stage {name!r}; the stages are {known}")

    def index(self, name: str) -> int:
        """Position of stage ``name``."""
        return self.stages.index(self.stage(name))

    def train_config(self, overrides: Mapping[str, Any], **fields: Any) -> TrainConfig:
        """The recipe's ``train`` section with ``overrides`` deep-merged and ``fields`` set, resolved.

        The section is merged as written and the result resolved
        (:func:`~earmark.training.resolve.resolve`), so a stage that changes the model or
        strategy inherits the options the recipe writes, never the defaults of the recipe's own.
        """
        data = deep_merge(self.train, overrides)
        data["data"] = {**dict(data.get("data") or {}), "prepared": self.prepared}
        for key, value in fields.items():
            if key.startswith("data."):
                data["data"][key[5:]] = value
            else:
                data[key] = value
        return resolve(from_dict(TrainConfig, data))


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` merged in: mappings merge key by key, anything else is replaced.

    An empty mapping in ``top`` replaces (clears) the mapping of ``base``: ``augment: {}``
    turns off the recipe's augmentation for one stage.
    """
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and value and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _stage_lines(text: str) -> list[int]:
    """1-based line of each item of the top-level ``stages`` list (empty when there is none)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if getattr(key, "value", None) == "stages" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _apply_overrides(data: dict[str, Any], overrides: Sequence[str], source: str) -> dict[str, Any]:
    plain = [item for item in overrides if not item.strip().startswith("stages.")]
    data = apply_overrides(data, plain)
    stages = data.get("stages")
    for item in overrides:
        if not item.strip().startswith("stages."):
            continue
        key, _, value = item.strip()[len("stages.") :].partition("=")
        name, _, rest = key.partition(".")
        matches = [s for s in stages or [] if isinstance(s, dict) and s.get("name") == name]
        if not matches or not rest:
            raise ConfigError(
                f"{source}: override {item!r} names no stage key (stages.<stage name>.<key>=value)"
            )
        matches[0].update(apply_overrides(matches[0], [f"{rest}={value}"]))
    return data


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read and check the recipe at ``path``, with ``key=value`` overrides."""
    path = Path(path)
    data = load_yaml(path)
    lines = _stage_lines(path.read_text(encoding="utf-8"))
    return recipe_from_dict(data, source=str(path), lines=lines, overrides=overrides, name=path.stem)


def recipe_from_dict(
    data: Mapping[str, Any],
    *,
    source: str = "recipe",
    lines: Sequence[int] = (),
    overrides: Sequence[str] = (),
    name: str = "pipeline",
) -> Recipe:
    """Build and check a :class:`Recipe` from plain data (``lines``: each stage's line, if known)."""
    data = _apply_overrides(dict(data), overrides, source)
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; valid keys: {', '.join(_TOP_KEYS)}")
    prepared = data.get("prepared")
    if not isinstance(prepared, str) or not prepared:
        raise ConfigError(f"{source}: 'prepared' (the prepared directory every stage reads) is required")
    train = data.get("train") or {}
    if not isinstance(train, Mapping):
        raise ConfigError(f"{source}: 'train' must be a mapping of training settings")
    items = data.get("stages")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source}: 'stages' must be a non-empty list of stages")
    recipe = Recipe(
        prepared=prepared,
        labels=data.get("labels"),
        out=str(data.get("out") or Path("runs") / "pipelines" / name),
        train=dict(train),
        stages=(),
        source=source,
    )
    names = {item.get("name") for item in items if isinstance(item, Mapping)}
    stages: list[Stage] = []
    for position, item in enumerate(items):
        line = lines[position] if position < len(lines) else position + 1
        stages.append(_stage(item, line, source, stages, names))
    recipe = dataclasses.replace(recipe, stages=tuple(stages))
    for stage in recipe.stages:
        for field, train in _train_blocks(stage.options):
            try:
                recipe.train_config(train)
            except ConfigError as error:
                raise ConfigError(f"{stage.where(recipe)}: {field}: {error}") from error
    return recipe


def _train_blocks(options: StageOptions) -> list[tuple[str, Mapping[str, Any]]]:
    """``(field, overrides)`` of each training config a stage builds on the recipe's ``train``."""
    if isinstance(options, TrainStage):
        return [("train", options.train)]
    if isinstance(options, FilterStage) and options.out_of_fold is not None:
        return [("out_of_fold.train", options.out_of_fold.train)]
    return []


def _stage(item: Any, line: int, source: str, earlier: list[Stage], names: set[Any]) -> Stage:
    where = f"{source}, line {line}"
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: a stage must be a mapping with a name and a kind")
    name, kind = item.get("name"), item.get("kind")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}: a stage needs a name of letters, digits, '_', '-' or '.' (got {name!r})")
    where = f"stage {name!r} ({source}, line {line})"
    if any(s.name == name for s in earlier):
        raise ConfigError(f"{where}: the name {name!r} is used by an earlier stage")
    if kind not in KINDS:
        raise ConfigError(f"{where}: unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    fields = {k: v for k, v in item.items() if k not in ("name", "kind")}
    try:
        options = from_dict(KINDS[kind], fields, key=f"stages.{name}")
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from error
    kinds = {s.name: s.kind for s in earlier}
    for field, other in options.referenced():
        if other == name:
            raise ConfigError(f"{where}: {field} names the stage itself")
        if other in names and other not in kinds:
            raise ConfigError(
                f"{where}: {field} refers to stage {other!r}, which comes later in the recipe; a stage "
                "can only use stages defined before it"
            )
        if other not in kinds:
            before = ", ".join(kinds) or "none"
            raise ConfigError(
                f"{where}: {field} refers to unknown stage {other!r}; a stage can only use stages "
                f"defined before it (here: {before})"
            )
        allowed = options.references[field]
        if kinds[other] not in allowed:
            raise ConfigError(
                f"{where}: {field} refers to stage {other!r}, a {kinds[other]} stage; it must name a "
                f"{' or '.join(allowed)} stage"
            )
    return Stage(name, kind, options, line, {"name": name, "kind": kind, **fields})
