from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from earmark.config import ConfigError, apply_overrides, dump_yaml, from_dict, load_yaml, to_dict
from earmark.features.logmel import LogMelConfig
from earmark.features.waveform import WaveformConfig


@dataclasses.dataclass(frozen=True)
class Inner:
    rate: float = 1.0
    names: tuple[str, ...] = ("a",)


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = dataclasses.field(default_factory=Inner)
    mode: Literal["x", "y"] = "x"
    count: int | None = None
    frontend: LogMelConfig | WaveformConfig = dataclasses.field(default_factory=LogMelConfig)


def test_round_trip_through_yaml(tmp_path):
    config = Outer(
        name="run",
        inner=Inner(rate=0.5, names=("b", "c")),
        mode="y",
        count=3,
        frontend=WaveformConfig(frame_samples=80),
    )
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml(config))
    again = from_dict(Outer, load_yaml(path))
    assert again == config
    assert to_dict(again)["frontend"]["name"] == "waveform"


def test_ints_become_floats_but_not_the_reverse():
    assert from_dict(Inner, {"rate": 2}).rate == 2.0
    with pytest.raises(ConfigError, match=r"inner\.rate must be a number"):
        from_dict(Outer, {"name": "a", "inner": {"rate": "fast"}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "a", "colour": 1}, "unknown config key colour"),
        ({"name": "a", "inner": {"rte": 1}}, r"unknown config key inner\.rte"),
        ({"name": "a", "mode": "z"}, "mode must be one of 'x', 'y'"),
        ({"name": "a", "count": "3"}, "count"),
        ({"name": "a", "inner": {"names": "abc"}}, r"inner\.names must be a list"),
        ({"name": "a", "frontend": {"name": "mfcc"}}, "unknown front-end 'mfcc'"),
        (
            {"name": "a", "frontend": {"name": "logmel", "n_melz": 3}},
            r"unknown config key frontend\.n_melz",
        ),
        ({}, "name"),
    ],
)
def test_bad_config_names_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_frontend_values_are_validated():
    with pytest.raises(ConfigError, match="window_samples"):
        LogMelConfig(n_fft=256, window_samples=512)
    with pytest.raises(ConfigError, match="fmax_hz"):
        LogMelConfig(sample_rate=16000, fmax_hz=9000.0)


def test_overrides_set_nested_values():
    data = apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=[1, 2]", "d=text"])
    assert data == {"a": {"b": 2, "c": [1, 2]}, "d": "text"}
    with pytest.raises(ConfigError, match=r"key\.sub=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="not a mapping"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_load_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(broken)


BAD_NUMBERS = {
    "optim.lr": [0.0, -1e-3, float("nan"), float("inf")],
    "optim.weight_decay": [-1e-4, float("nan")],
    "optim.warmup_steps": [-1],
    "optim.step_every": [0, -5],
    "optim.step_gamma": [0.0, 1.5, -0.5, float("nan")],
    "optim.min_lr_ratio": [-50.0, 1.5, float("nan")],
    "optim.grad_clip_norm": [-1.0, 0.0, float("nan")],
    "batch_size": [0, -8],
    "epochs": [0, -1],
    "max_steps": [0, -1],
    "max_minutes": [0.0, -5.0, float("nan"), float("inf")],
    "segment_frames": [0, -16],
    "segment_seconds": [0.0, -1.0],
    "predict_hop_frames": [-5, 0],
    "hop_seconds": [-0.5],
    "short_crop_share": [-0.1, 1.5],
    "short_crop_min_seconds": [0.0, -1.0],
    "validate_every": [-1],
    "patience": [-1],
    "num_workers": [-2],
    "labeled_per_batch": [-1],
    "data.valid_fraction": [-0.1, 1.0],
}


@pytest.mark.parametrize(("key", "value"), [(k, v) for k, values in BAD_NUMBERS.items() for v in values])
def test_every_bad_number_is_a_named_config_error(key, value):
    """A value out of range is refused when the config is built, naming the option (no training
    on a reversed gradient or a negative learning rate)."""
    from earmark.training.config import TrainConfig

    data: dict = {}
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    with pytest.raises(ConfigError, match=last):
        from_dict(TrainConfig, data)
