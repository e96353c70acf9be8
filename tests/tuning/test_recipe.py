from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml

from earmark.cli.train_cmd import load_train_config
from earmark.config import ConfigError
from earmark.data.labels import Labels
from earmark.training.config import DataConfig
from earmark.training.selection import select_splits
from earmark.tuning import inner_fold_labels, load_tune_recipe, recipe_from_dict, search_data, trial_config

TINY = {
    "data": {"prepared": "runs/nowhere", "test_folds": [4], "valid_folds": [3]},
    "model": "cnn",
    "model_options": {"channels": [8, 16]},
    "metric": "lwlrap",
}


def _recipe(**tune):
    block = {"trials": 3, "space": {"optim.lr": {"low": 1.0e-4, "high": 1.0e-2, "log": True}}, **tune}
    return {**TINY, "tune": block}


def test_a_test_split_objective_is_refused():
    with pytest.raises(
        ConfigError, match=r"tune\.objective_split is 'test'.*never on the test folds.*valid_folds"
    ):
        recipe_from_dict(_recipe(objective_split="test"))


def test_a_recipe_without_validation_is_refused():
    data = {"prepared": "runs/nowhere", "test_folds": [4]}
    with pytest.raises(ConfigError, match=r"no validation data.*data\.valid_fraction.*tune\.inner_folds"):
        recipe_from_dict({**_recipe(), "data": data})
    # the same recipe with inner cross-validation is accepted
    assert recipe_from_dict({**_recipe(inner_folds=3), "data": data}).tune.inner_folds == 3


@pytest.mark.parametrize(
    ("key", "spec", "message"),
    [
        (
            "optim.lrr",
            {"low": 0.1, "high": 0.2},
            r"tune\.space\.optim\.lrr = 0\.1: unknown config key optim\.lrr",
        ),
        (
            "model_options.dropoutt",
            {"low": 0.1, "high": 0.2},
            r"tune\.space\.model_options\.dropoutt.*dropoutt",
        ),
        ("batch_size", {"low": 0, "high": 8}, r"tune\.space\.batch_size = 0: batch_size must be positive"),
        (
            "model",
            {"choices": ["cnn", "no_such_model"]},
            r"tune\.space\.model = 'no_such_model': unknown model",
        ),
        ("data.valid_folds", {"choices": [[1], [2]]}, r"tune\.space\.data\.valid_folds: .*not searched"),
    ],
)
def test_a_bad_space_key_fails_at_load_time_naming_it(tmp_path, key, spec, message):
    path = tmp_path / "recipe.yaml"
    recipe = _recipe()
    recipe["tune"]["space"] = {key: spec}
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(ConfigError, match=message):
        load_tune_recipe(path)


def test_unknown_tune_keys_and_a_missing_block_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key tune\.trails"):
        recipe_from_dict(_recipe(trails=3))
    with pytest.raises(ConfigError, match=r"holds no tune: block"):
        recipe_from_dict(TINY)
    with pytest.raises(ConfigError, match=r"tune\.direction is 'minimize'"):
        recipe_from_dict(_recipe(direction="minimize"))
    with pytest.raises(ConfigError, match=r"tune\.metric: unknown metric 'lwlrapp'"):
        recipe_from_dict(_recipe(metric="lwlrapp"))


def test_overrides_reach_the_tune_block(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(_recipe()))
    recipe = load_tune_recipe(path, ["tune.trials=7", "data.prepared=elsewhere"])
    assert recipe.tune.trials == 7
    assert recipe.base.data.prepared == "elsewhere"


def test_train_ignores_the_tune_block(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(_recipe()))
    config = load_train_config(path, ["epochs=2"])
    assert config.epochs == 2
    assert config.data.test_folds == (4,)


def test_trial_config_uses_the_searched_metric_and_group_pattern():
    recipe = recipe_from_dict(_recipe(metric="ap_macro", group_pattern=r"^(clip\d\d)"))
    config = trial_config(recipe, {"optim.lr": 0.005})
    assert (config.optim.lr, config.metric, config.data.group_pattern) == (0.005, "ap_macro", r"^(clip\d\d)")
    assert config.data.test_folds == (4,)  # restored for best.yaml; search_data drops them


def _labels(num_clips: int = 48, folds: int = 4, num_classes: int = 3) -> Labels:
    positive = np.zeros((num_clips, num_classes), dtype=bool)
    positive[np.arange(num_clips), np.arange(num_clips) % num_classes] = True
    return Labels(
        clip_ids=np.array([f"rec{i // 2:03d}-take{i % 2}" for i in range(num_clips)], dtype=object),
        class_names=tuple(f"class{k}" for k in range(num_classes)),
        positive=positive,
        annotated=np.ones_like(positive),
        source=np.array(["curated"] * num_clips, dtype=object),
        fold=(np.arange(num_clips) // 2) % folds + 1,
        duration_seconds=np.ones(num_clips),
    )


@pytest.mark.parametrize("valid", [{"valid_folds": (3,)}, {"valid_fraction": 0.25}])
def test_search_data_drops_test_folds_and_trains_on_the_same_clips(valid):
    labels = _labels()
    data = DataConfig(prepared="p", test_folds=(4,), **valid)
    searched = search_data(data, labels)
    before = select_splits(labels, data, seed=0)
    after = select_splits(labels, searched, seed=0)
    assert "test" in before
    assert "test" not in after
    for split in ("train", "valid"):
        assert after[split].clip_ids.tolist() == before[split].clip_ids.tolist()
    assert not set(after["train"].clip_ids) & set(before["test"].clip_ids)


def test_inner_folds_keep_groups_and_leave_out_valid_and_test_clips():
    labels = _labels()
    data = DataConfig(prepared="p", test_folds=(4,), valid_folds=(3,))
    groups = np.array([c.split("-")[0] for c in labels.clip_ids], dtype=object)
    inner = inner_fold_labels(labels, data, folds=3, seed=0, groups=groups)
    held = set(labels.select(folds=[3, 4]).clip_ids)
    assert set(inner.clip_ids) == set(labels.clip_ids) - held
    assert sorted(set(inner.fold.tolist())) == [1, 2, 3]
    fold_of_group: dict[str, set[int]] = {}
    for clip, fold in zip(inner.clip_ids, inner.fold, strict=True):
        fold_of_group.setdefault(clip.split("-")[0], set()).add(int(fold))
    assert all(len(f) == 1 for f in fold_of_group.values())
    for fold in (1, 2, 3):  # stratified: every class in every inner fold
        assert inner.positive[inner.fold == fold].any(axis=0).all()


def test_inner_folds_ignore_valid_fraction():
    labels = _labels()
    data = DataConfig(prepared="p", test_folds=(4,), valid_fraction=0.3)
    inner = inner_fold_labels(labels, data, folds=2, seed=1)
    without = dataclasses.replace(data, valid_fraction=0.0)
    assert inner.num_clips == select_splits(labels, without, seed=1)["train"].num_clips


def test_a_held_out_share_for_the_search_only():
    """tune.valid_fraction holds out a share for the search's objective; the recipe itself keeps
    training on every training clip."""
    data = {"prepared": "runs/nowhere", "test_folds": [4]}
    recipe = recipe_from_dict({**_recipe(valid_fraction=0.2), "data": data})
    trial = trial_config(recipe, {"optim.lr": 1e-3})
    assert trial.data.valid_fraction == 0.2
    assert trial.data.test_folds == (4,)
    trained = load_train_config(None, [f"data.prepared={data['prepared']}", "data.test_folds=[4]"])
    assert trained.data.valid_fraction == 0.0
    with pytest.raises(ConfigError, match=r"tune\.valid_fraction or tune\.inner_folds, not both"):
        recipe_from_dict({**_recipe(valid_fraction=0.2, inner_folds=3), "data": data})
    with pytest.raises(ConfigError, match=r"tune\.valid_fraction must be in \[0, 1\)"):
        recipe_from_dict({**_recipe(valid_fraction=1.5), "data": data})
