from __future__ import annotations

import pytest

from earmark.config import ConfigError
from earmark.tuning import Choice, Range, SearchSpace, apply_params, suggest

optuna = pytest.importorskip("optuna")


def test_space_kinds_follow_the_bounds():
    space = SearchSpace.from_config_dict(
        {
            "optim.lr": {"low": 1.0e-4, "high": 1.0e-2, "log": True},
            "epochs": {"low": 10, "high": 60, "step": 10},
            "batch_size": {"choices": [16, 32]},
        }
    )
    lr, epochs, batch = space.parameters.values()
    assert isinstance(lr, Range)
    assert not lr.integer
    assert isinstance(epochs, Range)
    assert epochs.integer
    assert isinstance(batch, Choice)
    assert batch.scalar


def test_suggest_draws_inside_the_space_and_decodes_list_choices():
    space = SearchSpace.from_config_dict(
        {
            "optim.lr": {"low": 1.0e-4, "high": 1.0e-2, "log": True},
            "epochs": {"low": 10, "high": 60, "step": 10},
            "model_options.channels": {"choices": [[8, 16], [16, 32]]},
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(20):
        params = suggest(study.ask(), space)
        assert 1.0e-4 <= params["optim.lr"] <= 1.0e-2
        assert params["epochs"] in range(10, 61, 10)
        assert isinstance(params["epochs"], int)
        assert params["model_options.channels"] in ([8, 16], [16, 32])


def test_apply_params_writes_nested_keys_without_touching_the_recipe():
    recipe = {"optim": {"lr": 0.1, "name": "adamw"}, "epochs": 3}
    result = apply_params(recipe, {"optim.lr": 0.01, "model_options.dropout": 0.2})
    assert result == {"optim": {"lr": 0.01, "name": "adamw"}, "epochs": 3, "model_options": {"dropout": 0.2}}
    assert recipe["optim"]["lr"] == 0.1
    with pytest.raises(ConfigError, match=r"optim\.lr\.x: optim\.lr is 0\.1"):
        apply_params(recipe, {"optim.lr.x": 1})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"low": 1, "hihg": 2}, r"unknown config key space\.epochs\.hihg"),
        ({"low": 2, "high": 1}, r"space\.epochs: low \(2\) must be below high \(1\)"),
        ({"low": 0.0, "high": 1.0, "log": True}, r"space\.epochs: a log range needs low > 0"),
        ({"low": 1.0, "high": 2.0, "log": True, "step": 0.5}, r"log-scaled or stepped, not both"),
        ({"choices": []}, r"space\.epochs: choices must list at least one value"),
        ({"choices": [1, 1]}, r"space\.epochs: choices repeat a value"),
        ({"low": "tiny", "high": 1.0}, r"space\.epochs\.low must be"),
        ("1..5", r"space\.epochs must be \{low, high"),
    ],
)
def test_bad_ranges_name_their_key(spec, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace.from_config_dict({"epochs": spec})


def test_a_bound_written_as_a_string_yaml_leaves_unparsed_is_a_number():
    # YAML 1.1 reads 1e-4 (no dot) as a string; the config loader takes it as the number it spells
    space = SearchSpace.from_config_dict({"optim.lr": {"low": "1e-4", "high": 1.0e-2, "log": True}})
    assert space.parameters["optim.lr"].low == pytest.approx(1e-4)
