from __future__ import annotations

import dataclasses

import pytest
import torch

from earmark.config import ConfigError
from earmark.features import LogMelConfig, PrecomputedConfig, WaveformConfig
from earmark.models import MODELS, build_model, model_config, register_model
from earmark.models import registry as registry_module
from earmark.models.cnn import CnnConfig
from earmark.registry import Registry
from earmark.spec import TaggingSpec

CLASSES = tuple(f"class{i}" for i in range(10))
LOGMEL64 = TaggingSpec(CLASSES, LogMelConfig(n_mels=64), segment_frames=128)


def test_the_registry_holds_every_model_of_the_design() -> None:
    assert set(MODELS) == {
        "cnn",
        "crnn",
        "resnet",
        "se_resnet",
        "mobilenet",
        "aisfx_cnn",
        "attention_mil",
        "linear",
        "mlp",
        "waveform",
    }


def test_unknown_model_lists_the_valid_names() -> None:
    with pytest.raises(
        ConfigError, match="unknown model 'vgg'; known models: aisfx_cnn, attention_mil, cnn, crnn"
    ):
        build_model("vgg", LOGMEL64)


def test_bad_option_values_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"model 'cnn'.*width_multiplier must be a number"):
        build_model("cnn", LOGMEL64, {"width_multiplier": "wide"})
    with pytest.raises(ConfigError, match="pooling must be one of"):
        build_model("cnn", LOGMEL64, {"pooling": "median"})
    with pytest.raises(ConfigError, match="blocks must list a positive count for each of the 4 stages"):
        build_model("resnet", LOGMEL64, {"blocks": [2, 2]})
    with pytest.raises(ConfigError, match="use model 'resnet' without it"):
        build_model("se_resnet", LOGMEL64, {"squeeze_excitation": False})
    with pytest.raises(ConfigError, match="rnn must be one of 'gru', 'lstm'"):
        build_model("crnn", LOGMEL64, {"rnn": "transformer"})


def test_model_config_resolves_defaults() -> None:
    config = model_config("cnn", {"channels": [8, 16]})
    assert config == CnnConfig(channels=(8, 16))


def test_duplicate_registration_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "MODELS", Registry("model"))
    register_model("toy", CnnConfig)(lambda spec, config: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="model 'toy' is already registered"):
        register_model("toy", CnnConfig)(lambda spec, config: None)  # type: ignore[arg-type,return-value]


def test_a_builder_must_return_a_tagger_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "MODELS", Registry("model"))
    register_model("toy", CnnConfig)(lambda spec, config: torch.nn.Linear(2, 2))  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="returned Linear, not a TaggerModel"):
        build_model("toy", LOGMEL64)


def test_config_must_be_a_dataclass() -> None:
    with pytest.raises(TypeError, match="must be a dataclass"):
        register_model("toy", dict)


@pytest.mark.parametrize("name", ["cnn", "crnn", "resnet", "se_resnet", "mobilenet"])
def test_two_dimensional_models_need_enough_mel_bands(name: str) -> None:
    few = TaggingSpec(CLASSES, LogMelConfig(n_mels=8), segment_frames=128)
    with pytest.raises(
        ValueError, match=rf"model '{name}' pools frequency by 16 and needs n_mels >= 16.*n_mels=8"
    ):
        build_model(name, few)


def test_attention_mil_fits_every_front_end() -> None:
    for frontend, dim in (
        (PrecomputedConfig(dim=512), 512),
        (LogMelConfig(n_mels=40), 40),
        (WaveformConfig(), 160),
    ):
        model = build_model("attention_mil", TaggingSpec(CLASSES, frontend, segment_frames=10))
        assert model.input_dim == dim
        assert model.min_frames == 1


def test_waveform_min_frames_covers_its_receptive_field() -> None:
    spec = TaggingSpec(CLASSES, WaveformConfig(frame_samples=160), segment_frames=128)
    model = build_model("waveform", spec)
    assert model.min_frames == 42  # ceil(3 ** 8 / 160)
    with pytest.raises(ValueError, match=r"needs at least 370 frames.*segment_frames is 128"):
        build_model("waveform", spec, {"channels": [8] * 10})  # 3 ** 10 samples = 370 frames of 160


def test_crnn_with_lstm() -> None:
    model = build_model("crnn", LOGMEL64, {"rnn": "lstm", "width_multiplier": 0.125, "rnn_layers": 2})
    assert isinstance(model.rnn, torch.nn.LSTM)
    assert model(torch.randn(2, 40, 64)).shape == (2, 10)


def test_se_resnet_adds_squeeze_excitation() -> None:
    plain, squeezed = build_model("resnet", LOGMEL64), build_model("se_resnet", LOGMEL64)
    assert squeezed.num_parameters() > plain.num_parameters()
    assert "SqueezeExcitation" in repr(squeezed)
    assert "SqueezeExcitation" not in repr(plain)


def test_default_cnn_size_is_the_documented_cpu_size() -> None:
    model = build_model("cnn", LOGMEL64)
    assert 600_000 < model.num_parameters() < 700_000  # "about 0.66 M parameters" (cnn.py)
    assert model.min_frames == 16
    baseline = build_model("cnn", LOGMEL64, {"width_multiplier": 1.0})
    assert 4_600_000 < baseline.num_parameters() < 4_800_000  # the 64-128-256-512 FSDKaggle2019 CNN


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("crnn", 0.7e6, 0.8e6),
        ("resnet", 0.65e6, 0.75e6),
        ("se_resnet", 0.67e6, 0.77e6),
        ("mobilenet", 0.18e6, 0.24e6),
    ],
)
def test_default_sizes_match_their_docstrings(name: str, low: float, high: float) -> None:
    assert low < build_model(name, LOGMEL64).num_parameters() < high


def test_default_configs_round_trip_through_the_strict_loader() -> None:
    for name in MODELS:
        config = MODELS.entry(name).config_class()
        assert model_config(name, dataclasses.asdict(config)) == config
