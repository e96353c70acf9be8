"""Every recipe loads strictly and resolved; the missing-label recipes train on data in their real layouts."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from earmark.augment import AUGMENTATIONS
from earmark.cli import app
from earmark.cli.train_cmd import load_train_config
from earmark.config import ConfigError, load_yaml
from earmark.models import MODELS
from earmark.pipeline import load_recipe
from earmark.pipeline.stages import TrainStage
from earmark.registry import Registry
from earmark.strategies import STRATEGIES
from earmark.testing.audio import write_tone
from earmark.training.config import TrainConfig
from earmark.tuning.config import load_tune_recipe

ALL_RECIPES = sorted((Path(__file__).parent.parent / "recipes").glob("*.yaml"))
# training recipes; pipeline recipes (a list of ``stages``) run in tests/pipeline
RECIPES = [p for p in ALL_RECIPES if "stages" not in load_yaml(p)]
PIPELINES = [p for p in ALL_RECIPES if "stages" in load_yaml(p)]


def run(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def fields_of(registry: Registry, name: str) -> set[str]:
    config_class = registry.entry(name).config_class
    assert config_class is not None
    return {f.name for f in dataclasses.fields(config_class)}


def assert_resolved(config: TrainConfig) -> None:
    """Every nested option holds every field of its config dataclass (defaults filled in)."""
    assert set(config.model_options) == fields_of(MODELS, config.model)
    assert set(config.strategy_options) == fields_of(STRATEGIES, config.strategy)
    for name, options in config.augment.items():
        assert set(options) == fields_of(AUGMENTATIONS, name)


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_every_recipe_is_a_valid_training_config(recipe):
    config = load_train_config(recipe, [])
    assert config.data.prepared
    assert_resolved(config)
    if "tune" in load_yaml(recipe):  # its search space must load too, every drawn key checked
        assert load_tune_recipe(recipe, []).tune.space.parameters


@pytest.mark.parametrize("recipe", PIPELINES, ids=[r.stem for r in PIPELINES])
def test_every_pipeline_recipe_resolves_each_train_stage(recipe):
    loaded = load_recipe(recipe)
    stages = [s for s in loaded.stages if isinstance(s.options, TrainStage)]
    assert stages
    for stage in stages:
        assert_resolved(loaded.train_config(stage.options.train))


def misspelled(train: dict, section: str) -> dict:
    """``train`` with a misspelled key (``alpah``) in its ``section`` (a transform's options for augment)."""
    options = dict(train.get(section) or {})
    if section == "augment":
        name = next(iter(options), "specaugment")
        return {**train, "augment": {**options, name: {**(options.get(name) or {}), "alpah": 0.9}}}
    return {**train, section: {**options, "alpah": 0.9}}


@pytest.mark.parametrize("section", ["model_options", "strategy_options", "augment"])
@pytest.mark.parametrize("recipe", ALL_RECIPES, ids=[r.stem for r in ALL_RECIPES])
def test_a_misspelled_nested_option_in_any_recipe_fails_to_load(recipe, section, tmp_path):
    data = load_yaml(recipe)
    path = tmp_path / recipe.name
    if "stages" in data:
        path.write_text(yaml.safe_dump({**data, "train": misspelled(data.get("train") or {}, section)}))
        with pytest.raises(ConfigError, match=rf"unknown config key {section}(\.\w+)?\.alpah"):
            load_recipe(path)
    else:
        path.write_text(yaml.safe_dump(misspelled(data, section)))
        with pytest.raises(
            ConfigError, match=rf"{recipe.name}: .*unknown config key {section}(\.\w+)?\.alpah"
        ):
            load_train_config(path, [])


@pytest.mark.realdata
def test_openmic_recipe_on_a_small_npz_in_the_real_layout(shared_data, tmp_path):
    meta = shared_data / "openmic_meta"
    keys = [
        *(meta / "split01_train.csv").read_text().split()[:60],
        *(meta / "split01_test.csv").read_text().split()[:20],
    ]
    rng = np.random.default_rng(0)
    n = len(keys)
    truth = rng.random((n, 20)) < 0.3
    np.savez(
        tmp_path / "openmic-2018.npz",
        X=(rng.integers(0, 60, size=(n, 10, 128)) + 120 * truth[:, None, :1]).astype(np.uint8),
        Y_true=np.where(truth, 0.9, 0.1),
        Y_mask=rng.random((n, 20)) < 0.4,  # most entries missing, as in OpenMIC
        sample_key=np.array(keys),
    )
    prepared = tmp_path / "openmic"
    run("prepare", "openmic", "--out", prepared, "--set", f"npz={tmp_path / 'openmic-2018.npz'}",
        "--set", f"class_map={meta / 'class-map.json'}", "--set", f"train_split={meta / 'split01_train.csv'}",
        "--set", f"test_split={meta / 'split01_test.csv'}")  # fmt: skip
    run_dir = tmp_path / "openmic-mt"
    run("train", "--config", RECIPES[[r.stem for r in RECIPES].index("openmic")], "--run-dir", run_dir,
        f"data.prepared={prepared}", "epochs=3")  # fmt: skip
    result = summary(run_dir)
    assert result["clips"] == {"train": 51, "valid": 9, "test": 20}
    assert np.isfinite(result["test"]["f1_macro"])
    assert "student" in result["reported"]


def _sonyc_annotations(tmp_path: Path) -> Path:
    path = Path(__file__).parent / "data" / "test_loader_sonyc_ust.py"
    spec = importlib.util.spec_from_file_location("sonyc_layout", path)
    assert spec is not None
    assert spec.loader is not None
    layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layout)
    rng = np.random.default_rng(1)
    codes = ["1-1", "5-3", "6-1", "8-1"]
    rows = []
    for i, split in enumerate(["train"] * 24 + ["validate"] * 6 + ["test"] * 6):
        present = {c for c in codes if rng.random() < 0.4} or {codes[i % 4]}
        frequencies = [300.0 * (codes.index(c) + 1) for c in sorted(present)]
        write_tone(tmp_path / "audio" / split / f"{i}.wav", frequency_hz=frequencies[0], duration_seconds=2.0)
        missing = {c for c in codes if rng.random() < 0.1}
        rows.append(layout.row(split, f"{i}.wav", 0, positive=present - missing, missing=missing))
    return layout.write_annotations(tmp_path / "annotations.csv", rows)


def test_sonyc_ust_recipe_label_enhancement_after_a_b0_teacher(tmp_path):
    annotations = _sonyc_annotations(tmp_path)
    prepared = tmp_path / "sonyc"
    run("prepare", "sonyc_ust", "--out", prepared, "--set", f"annotations={annotations}",
        "--set", f"audio_root={tmp_path / 'audio'}", "--frontend-set", "n_mels=32")  # fmt: skip
    recipe = RECIPES[[r.stem for r in RECIPES].index("sonyc_ust")]
    teacher = tmp_path / "sonyc-b0"
    common = [f"data.prepared={prepared}", "epochs=2", "segment_frames=50", "optim.step_every=10"]
    run("train", "--config", recipe, "--run-dir", teacher, *common,
        "strategy=supervised", "strategy_options={missing: negative}")  # fmt: skip
    student = tmp_path / "sonyc-le"
    run("train", "--config", recipe, "--run-dir", student, *common,
        f"strategy_options={{teacher_run: {teacher}, gamma: 95}}")  # fmt: skip
    assert (student / "enhanced_labels.csv").exists()
    assert summary(student)["clips"] == {"train": 24, "valid": 6, "test": 6}


@pytest.mark.realdata
@pytest.mark.slow
def test_audioset_recipe_and_audit_on_the_real_vggish_sample(shared_data, tmp_path):
    sample = shared_data / "audioset_vggish_sample"
    prepared = tmp_path / "audioset"
    run("prepare", "audioset", "--out", prepared, "--set", f"records={sample}",
        "--set", f"class_labels={sample / 'class_labels_indices.csv'}")  # fmt: skip
    recipe = RECIPES[[r.stem for r in RECIPES].index("audioset_sample")]
    teacher = tmp_path / "audioset-b0"
    run("train", "--config", recipe, "--run-dir", teacher, f"data.prepared={prepared}", "epochs=1")
    output = run("audit", "missing", "--run", teacher, "--per-class", "2")
    assert "suspected missing labels" in output
    lines = (teacher / "audit_missing.csv").read_text().splitlines()
    assert len(lines) > 100
    student = tmp_path / "audioset-le"
    options = f"strategy_options={{teacher_run: {teacher}, percent: 1.0}}"
    run("train", "--config", recipe, "--run-dir", student, f"data.prepared={prepared}", "epochs=1",
        "strategy=label_enhancement", options)  # fmt: skip
    flagged = json.loads((student / "enhancement.json").read_text())
    assert 0 < flagged["masked_entries"] < flagged["missing_entries"] * 0.011
