"""Configs are resolved when loaded: nested options built through their registries, in full."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from earmark.augment import AUGMENTATIONS
from earmark.cli import app
from earmark.cli.train_cmd import load_train_config
from earmark.config import ConfigError, dump_yaml, from_dict, load_yaml, to_dict
from earmark.models import MODELS
from earmark.pipeline import load_recipe
from earmark.strategies import STRATEGIES
from earmark.testing.prepared import make_prepared
from earmark.training.config import TrainConfig
from earmark.training.resolve import resolve
from earmark.training.trainer import Trainer
from earmark.tuning import load_tune_recipe, trial_config

# the options a strategy cannot do without (label enhancement needs its teacher run)
REQUIRED_OPTIONS: dict[str, dict[str, Any]] = {
    "label_enhancement": {"teacher_run": "runs/b0", "gamma": 95.0},
    "le_mean_teacher": {"teacher_run": "runs/mt0", "percent": 1.0},
    "pseudo_label": {"teacher_run": "runs/b1"},
}
TINY_CNN = {"channels": [8, 16]}


def field_names(config_class: type[Any] | None) -> set[str]:
    assert config_class is not None
    return {f.name for f in dataclasses.fields(config_class)}


def strategy_options(name: str) -> dict[str, Any]:
    return dict(REQUIRED_OPTIONS.get(name, {}))


def test_resolve_fills_every_default_and_keeps_what_was_written() -> None:
    written = {
        "model": "cnn",
        "model_options": {"dropout": 0.3, "channels": [8, 16]},
        "strategy": "mean_teacher",
        "strategy_options": {"alpha": 0.99},
        "augment": {"specaugment": None, "mixup": {"alpha": 0.2}},
    }
    config = resolve(from_dict(TrainConfig, written))
    assert config.model_options == to_dict(MODELS.config("cnn", written["model_options"]))
    assert set(config.model_options) == field_names(MODELS.entry("cnn").config_class)
    assert (config.model_options["dropout"], config.model_options["channels"]) == (0.3, [8, 16])
    assert set(config.strategy_options) == field_names(STRATEGIES.entry("mean_teacher").config_class)
    assert config.strategy_options["alpha"] == 0.99
    assert list(config.augment) == ["specaugment", "mixup"]  # the order written is the order applied
    assert config.augment["specaugment"] == to_dict(AUGMENTATIONS.config("specaugment"))
    assert set(config.augment["mixup"]) == field_names(AUGMENTATIONS.entry("mixup").config_class)
    assert config.augment["mixup"]["alpha"] == 0.2
    # everything else is untouched
    assert dataclasses.replace(config, model_options={}, strategy_options={}, augment={}) == (
        dataclasses.replace(
            from_dict(TrainConfig, written), model_options={}, strategy_options={}, augment={}
        )
    )


BAD_OPTIONS = [
    (
        {"model_options": {"dropuot": 0.3}},
        r"model 'cnn': unknown config key model_options\.dropuot; valid keys",
    ),
    (
        {"strategy": "mean_teacher", "strategy_options": {"alpah": 0.9}},
        r"strategy 'mean_teacher': unknown config key strategy_options\.alpah; valid keys: .*alpha",
    ),
    (
        {"augment": {"specaugment": {}, "mixup": {"alpah": 0.4}}},
        r"augmentation 'mixup': unknown config key augment\.mixup\.alpah",
    ),
    (
        {"strategy": "consistency", "strategy_options": {"specaugment": {"time_maks": 1}}},
        r"strategy 'consistency': unknown config key strategy_options\.specaugment\.time_maks",
    ),
    ({"augment": {"pitch": {}}}, r"unknown augmentation 'pitch'; known augmentations: .*mixup"),
    ({"augment": {"mixup": 0.4}}, r"augmentation 'mixup': augment\.mixup must be a mapping"),
    ({"model": "vgg"}, r"unknown model 'vgg'; known models: .*cnn"),
    ({"strategy": "pseudo"}, r"unknown strategy 'pseudo'; known strategies: .*supervised"),
    (
        {"strategy_options": {"label_smoothing": "a bit"}},
        r"strategy 'supervised': strategy_options\.label_smoothing must be a number",
    ),
]


def test_nested_strategy_options_are_filled_in_full() -> None:
    written = {"strategy": "consistency", "strategy_options": {"specaugment": {"freq_masks": 2}}}
    views = resolve(from_dict(TrainConfig, written)).strategy_options["specaugment"]
    assert set(views) == field_names(AUGMENTATIONS.entry("specaugment").config_class)
    assert views["freq_masks"] == 2


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_a_bad_nested_option_fails_resolution_naming_the_key(options: dict[str, Any], message: str) -> None:
    config = from_dict(TrainConfig, options)  # the open dicts load: only resolving sees inside them
    with pytest.raises(ConfigError, match=message):
        resolve(config)


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_a_recipe_file_with_a_bad_nested_option_fails_at_load_naming_file_and_key(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"data": {"prepared": "somewhere"}, **options}))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: {message}"):
        load_train_config(path, [])


def test_an_override_with_a_bad_nested_option_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text("strategy: mean_teacher\n")
    assert load_train_config(path, ["strategy_options.alpha=0.9"]).strategy_options["alpha"] == 0.9
    with pytest.raises(ConfigError, match=r"recipe\.yaml: .*unknown config key strategy_options\.alpah"):
        load_train_config(path, ["strategy_options.alpah=0.9"])
    with pytest.raises(
        ConfigError, match=r"^strategy 'mean_teacher': unknown config key strategy_options\.alpah"
    ):
        load_train_config(None, ["strategy=mean_teacher", "strategy_options.alpah=0.9"])


def _every_component() -> list[tuple[str, dict[str, Any]]]:
    cases = [(f"model {name}", {"model": name}) for name in MODELS]
    cases += [(f"strategy {n}", {"strategy": n, "strategy_options": strategy_options(n)}) for n in STRATEGIES]
    cases += [(f"augmentation {name}", {"augment": {name: {}}}) for name in AUGMENTATIONS]
    return cases


@pytest.mark.parametrize(("case", "written"), _every_component(), ids=[c for c, _ in _every_component()])
def test_a_resolved_config_written_and_read_back_is_the_same(
    tmp_path: Path, case: str, written: dict[str, Any]
) -> None:
    resolved = resolve(from_dict(TrainConfig, written))
    path = tmp_path / "config.yaml"
    path.write_text(dump_yaml(resolved))
    again = from_dict(TrainConfig, load_yaml(path))
    assert again == resolved
    assert resolve(again) == resolved  # resolving is idempotent
    assert load_train_config(path, []) == resolved


def test_a_run_writes_the_resolved_config(tmp_path: Path) -> None:
    prepared = make_prepared(tmp_path / "prepared")
    written = {
        "data": {"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
        "model": "cnn",
        "model_options": TINY_CNN,
        "augment": {"gain": {}},
        "segment_frames": 16,
        "batch_size": 8,
        "epochs": 1,
        "max_steps": 2,
        "report": False,
    }
    run_dir = tmp_path / "run"
    Trainer(from_dict(TrainConfig, written), run_dir).fit()
    recorded = load_yaml(run_dir / "config.yaml")
    assert recorded["strategy_options"] == to_dict(STRATEGIES.config("supervised"))
    assert set(recorded["model_options"]) == field_names(MODELS.entry("cnn").config_class)
    assert recorded["augment"] == {"gain": to_dict(AUGMENTATIONS.config("gain"))}
    assert from_dict(TrainConfig, recorded) == resolve(from_dict(TrainConfig, written))


# ------------------------------------------------------------------------------------ pipelines
TRAIN = {
    "model": "cnn",
    "model_options": TINY_CNN,
    "segment_frames": 16,
    "batch_size": 8,
    "epochs": 1,
    "max_steps": 2,
    "report": False,
    "data": {"train_folds": [1, 2], "valid_folds": [3]},
}
FIRST = {"name": "first", "kind": "train"}


def write_pipeline(tmp_path: Path, stages: list[dict[str, Any]], train: dict[str, Any] = TRAIN) -> Path:
    prepared = make_prepared(tmp_path / "prepared")
    path = tmp_path / "pipeline.yaml"
    data = {"prepared": str(prepared), "out": str(tmp_path / "out"), "train": train, "stages": stages}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (
            [FIRST, {"name": "second", "kind": "train", "init_from": "first",
                     "train": {"strategy": "mean_teacher", "strategy_options": {"alpah": 0.9}}}],
            r"stage 'second' \(.*pipeline\.yaml, line \d+\): train: strategy 'mean_teacher': unknown config "
            r"key strategy_options\.alpah",
        ),
        (
            [FIRST, {"name": "second", "kind": "train", "train": {"augment": {"mixup": {"alpah": 0.4}}}}],
            r"stage 'second' .*: train: augmentation 'mixup': unknown config key augment\.mixup\.alpah",
        ),
        (
            [FIRST, {"name": "clean", "kind": "filter", "out_of_fold": {"folds": 2,
                     "train": {"model_options": {"dropuot": 0.5}}}}],
            r"stage 'clean' .*: out_of_fold\.train: model 'cnn': unknown config key model_options\.dropuot",
        ),
    ],
)  # fmt: skip
def test_a_pipeline_with_a_bad_stage_option_fails_at_load(
    tmp_path: Path, stages: list[dict[str, Any]], message: str
) -> None:
    path = write_pipeline(tmp_path, stages)
    with pytest.raises(ConfigError, match=message):
        load_recipe(path)


def test_a_bad_option_of_the_recipes_train_block_names_the_first_stage_using_it(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, [FIRST], {**TRAIN, "model_options": {"chanels": [8]}})
    with pytest.raises(
        ConfigError, match=r"stage 'first' .*: train: model 'cnn': unknown config key model_options\.chanels"
    ):
        load_recipe(path)


def test_a_pipeline_fails_before_its_first_stage_trains(tmp_path: Path) -> None:
    bad = {"name": "second", "kind": "train", "train": {"strategy_options": {"smoothing": 0.1}}}
    path = write_pipeline(tmp_path, [FIRST, bad])
    result = CliRunner().invoke(app, ["pipeline", str(path)])
    assert result.exit_code != 0
    assert "unknown config key strategy_options.smoothing" in result.output + str(result.exception)
    assert not (tmp_path / "out" / "first").exists()  # the first stage never started


def test_pipeline_stage_configs_are_resolved(tmp_path: Path) -> None:
    second = {"name": "second", "kind": "train", "train": {"strategy": "mean_teacher"}}
    recipe = load_recipe(write_pipeline(tmp_path, [FIRST, second]))
    assert recipe.train == TRAIN  # the recipe keeps its train block as written (stages merge onto it)
    config = recipe.train_config(recipe.stage("second").options.train)  # type: ignore[attr-defined]
    assert set(config.strategy_options) == field_names(STRATEGIES.entry("mean_teacher").config_class)
    assert set(config.model_options) == field_names(MODELS.entry("cnn").config_class)


# ------------------------------------------------------------------------------------ searches
TUNE = {"trials": 2, "space": {"optim.lr": {"low": 1.0e-4, "high": 1.0e-2, "log": True}}}


def test_a_search_recipe_with_a_bad_nested_option_fails_at_load_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "search.yaml"
    data = {"data": {"prepared": "x", "valid_folds": [2]}, "strategy": "mean_teacher", "tune": TUNE}
    path.write_text(yaml.safe_dump({**data, "strategy_options": {"alpah": 0.9}}))
    with pytest.raises(
        ConfigError,
        match=r"search\.yaml: strategy 'mean_teacher': unknown config key strategy_options\.alpah",
    ):
        load_tune_recipe(path)
    path.write_text(yaml.safe_dump(data))
    trial = trial_config(load_tune_recipe(path), {"optim.lr": 1.0e-3})
    assert trial.optim.lr == 1.0e-3
    assert set(trial.strategy_options) == field_names(STRATEGIES.entry("mean_teacher").config_class)
