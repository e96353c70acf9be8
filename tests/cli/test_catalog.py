"""Every option discoverable from one source: the catalogue, ``list``, ``--help``, default configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from earmark.cli import app
from earmark.cli.catalog import (
    CATALOG_PATH,
    README_END,
    README_START,
    build_catalog,
    describe_options,
    load_catalog,
    render_markdown,
    type_text,
)
from earmark.cli.config_cmd import default_config
from earmark.cli.prepare_cmd import PrepareConfig
from earmark.cli.train_cmd import load_train_config
from earmark.config import ConfigError, from_dict
from earmark.data.loaders import LOADERS
from earmark.models import MODELS
from earmark.pipeline.recipe import recipe_from_dict
from earmark.pipeline.stages import KINDS as STAGE_KINDS
from earmark.strategies import STRATEGIES
from earmark.training.config import DataConfig, OptimConfig, TrainConfig
from earmark.training.resolve import resolve

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"
#: Options a strategy needs a value for before it builds (a teacher run has no default).
NEEDED = {
    "label_enhancement": {"teacher_run": "runs/teacher", "gamma": 50.0},
    "le_mean_teacher": {"teacher_run": "runs/teacher", "gamma": 50.0},
    "pseudo_label": {"teacher_run": "runs/teacher"},
}
REGENERATE = "run `python -m earmark.cli.catalog` to regenerate it"


def test_the_stored_catalogue_matches_the_registries():
    assert json.loads(json.dumps(build_catalog())) == load_catalog(), f"{CATALOG_PATH} drifted: {REGENERATE}"


def test_the_readme_reference_is_generated_from_the_catalogue():
    readme = README.read_text(encoding="utf-8")
    section = readme[readme.index(README_START) + len(README_START) : readme.index(README_END)]
    assert section.strip() == render_markdown(load_catalog()).strip(), (
        f"README reference drifted: {REGENERATE}"
    )


def test_every_loader_option_has_a_meaning():
    for layout in LOADERS:
        for option in describe_options(LOADERS.entry(layout).config_class):
            assert option.meaning, f"loader {layout!r} option {option.name!r} has no meaning in its docstring"


def test_every_registered_option_and_train_setting_has_a_meaning():
    blank = [
        f"{kind} {name}: {option['name']}"
        for kind, entries in build_catalog().items()
        for name, entry in entries.items()
        for option in entry["options"]
        if not option["meaning"]
    ]
    for config_class in (TrainConfig, DataConfig, OptimConfig):
        blank += [
            f"{config_class.__name__}.{o.name}" for o in describe_options(config_class) if not o.meaning
        ]
    assert not blank, f"options without a one-line meaning (docstring or comment): {blank}"


def test_type_text_reads_ranges_literals_and_optionals():
    assert LOADERS.options("files") == describe_options(LOADERS.entry("files").config_class)
    options = {o.name: o for o in LOADERS.options("files")}
    assert options["folds"].type == "int in [0, 1000]"
    assert options["match_on"].type == "one of name, path"
    assert options["test"].type == "str or null"
    assert options["root"].required
    assert options["seed"].default == 0
    assert type_text(tuple[int, ...]) == "list of int"


def write_default(tmp_path, *args: str) -> dict:
    path = tmp_path / "default.yaml"
    result = runner.invoke(app, ["write-default-config", str(path), "--force", *args])
    assert result.exit_code == 0, result.output
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#"), "every key has its comment above it"
    return yaml.safe_load(text)


@pytest.mark.parametrize("layout", sorted(LOADERS))
def test_prepare_defaults_load_back_for_every_layout(tmp_path, layout):
    data = write_default(tmp_path, "--kind", "prepare", layout)
    config = from_dict(PrepareConfig, data)
    assert config.layout == layout
    LOADERS.config(layout, config.options)  # strict: every key is the loader's
    assert data == default_config("prepare", layout)[0]
    for option in describe_options(LOADERS.entry(layout).config_class):
        if not option.required:
            assert config.options[option.name] == option.default
    assert set(config.options) == {o.name for o in describe_options(LOADERS.entry(layout).config_class)}


@pytest.mark.parametrize(
    ("model", "strategy"),
    [(m, "supervised") for m in sorted(MODELS)] + [("cnn", s) for s in sorted(STRATEGIES)],
)
def test_train_defaults_load_back_unchanged_for_every_model_and_strategy(tmp_path, model, strategy):
    write_default(tmp_path, "--kind", "train", model, "--strategy", strategy)
    needed = NEEDED.get(strategy, {})
    loaded = load_train_config(
        tmp_path / "default.yaml", [f"strategy_options.{k}={v}" for k, v in needed.items()]
    )
    assert loaded == resolve(TrainConfig(model=model, strategy=strategy, strategy_options=needed))


@pytest.mark.parametrize("kind", sorted(STAGE_KINDS))
def test_pipeline_defaults_load_back_for_every_stage_kind(tmp_path, kind):
    data = write_default(tmp_path, "--kind", "pipeline", kind)
    recipe = recipe_from_dict(data, source="default.yaml")
    stage = recipe.stages[-1]
    assert stage.kind == kind
    written = {k: v for k, v in data["stages"][-1].items() if k not in ("name", "kind")}
    assert stage.options == from_dict(STAGE_KINDS[kind], written)


def test_an_edited_default_with_a_typo_lists_the_valid_keys(tmp_path):
    write_default(tmp_path, "--kind", "train")
    path = tmp_path / "default.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("\nepochs:", "\nepochz:"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown config key epochz; valid keys: .*epochs"):
        load_train_config(path, [])


def test_unknown_kinds_and_names_are_refused(tmp_path):
    result = runner.invoke(app, ["write-default-config", "-", "--kind", "tune"])
    assert "unknown config kind 'tune'; known: prepare, train, pipeline" in str(result.exception)
    result = runner.invoke(app, ["write-default-config", "-", "--kind", "train", "cnnn"])
    assert "unknown model 'cnnn'; known models: aisfx_cnn" in str(result.exception)
    result = runner.invoke(app, ["list", "modles"])
    assert "unknown kind 'modles'; known kinds: loaders" in str(result.exception)


def test_list_shows_kinds_names_and_options():
    everything = runner.invoke(app, ["list"])
    assert everything.exit_code == 0, everything.output
    assert "strategies" in everything.output
    models = runner.invoke(app, ["list", "models"])
    assert "attention_mil" in models.output
    options = runner.invoke(app, ["list", "strategies", "mean_teacher"], env={"COLUMNS": "200"})
    assert options.exit_code == 0, options.output
    assert "alpha" in options.output


def test_prepare_layout_help_lists_the_layout_options():
    result = runner.invoke(app, ["prepare", "files", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "loader files: options" in result.output
    assert "a regex with a named group `label`" in result.output
    bare = runner.invoke(app, ["prepare", "--help"], env={"COLUMNS": "200"})
    assert "earmark prepare LAYOUT --help lists the options of a layout" in bare.output


def test_list_defaults_show_in_layout_help():
    result = runner.invoke(app, ["prepare", "fsdkaggle2019", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "[curated, noisy]" in result.output, "a list default must not be read as console markup"
