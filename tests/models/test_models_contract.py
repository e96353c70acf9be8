"""The contract every registered model must pass (in the manner of scikit-learn's estimator checks).

Adding a model means adding one line to ``CASES``: a tiny configuration, the spec it fits and a
spec it does not fit.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
import torch
from torch.nn import functional

from earmark.config import ConfigError
from earmark.features import LogMelConfig, PrecomputedConfig, WaveformConfig
from earmark.features.aisfx import AisfxMelConfig
from earmark.models import MODELS, TaggerModel, build_model
from earmark.spec import TaggingSpec

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
]

CLASSES = ("dog", "rain", "siren")
LOGMEL = TaggingSpec(CLASSES, LogMelConfig(n_mels=16), segment_frames=32)
EMBEDDING = TaggingSpec(CLASSES, PrecomputedConfig(source="openl3", dim=12), segment_frames=10)
WAVEFORM = TaggingSpec(CLASSES, WaveformConfig(frame_samples=8), segment_frames=32)
AISFX_MEL = TaggingSpec(CLASSES, AisfxMelConfig(), segment_frames=100)  # 96 bands, one block


@dataclasses.dataclass(frozen=True)
class Case:
    spec: TaggingSpec
    options: dict[str, Any]
    bad_spec: TaggingSpec | None  # None: the model fits every front-end
    bad_match: str = ""


TINY_CNN = {"channels": [4, 8], "width_multiplier": 1.0, "dropout": 0.5}
TINY_RESNET = {"channels": [4, 8], "blocks": [1, 1], "width_multiplier": 1.0, "dropout": 0.5}
CASES: dict[str, Case] = {
    # random weights, a narrow network: no optional package (tests/models/test_aisfx_cnn.py
    # checks the pretrained network where aisfx is installed)
    "aisfx_cnn": Case(
        AISFX_MEL, {"pretrained": False, "base_channels": 4, "dropout": 0.5}, LOGMEL, "'aisfx_mel'"
    ),
    "cnn": Case(LOGMEL, TINY_CNN, EMBEDDING, "needs 2-D time-frequency features from the 'logmel'"),
    "crnn": Case(LOGMEL, {**TINY_CNN, "rnn_hidden": 6}, WAVEFORM, "'logmel' front-end.*'waveform'"),
    "resnet": Case(LOGMEL, TINY_RESNET, EMBEDDING, "use 'attention_mil', 'linear' or 'mlp' for per-frame"),
    # se_resnet with the strided stem, so that both stems pass the contract
    "se_resnet": Case(LOGMEL, {**TINY_RESNET, "se_reduction": 2, "stem": "stride"}, EMBEDDING, "'logmel'"),
    "mobilenet": Case(
        LOGMEL,
        {"stem_channels": 4, "channels": [8, 8], "strides": [2, 1], "width_multiplier": 1.0, "dropout": 0.5},
        WAVEFORM,
        "'logmel'",
    ),
    "attention_mil": Case(EMBEDDING, {"hidden_layers": 2, "hidden_units": 8, "dropout": 0.5}, None),
    "linear": Case(EMBEDDING, {"dropout": 0.5}, None),
    "mlp": Case(
        EMBEDDING,
        {"hidden_layers": 2, "hidden_units": 8, "dropout": 0.5, "statistics": ["mean", "max", "std"]},
        None,
    ),
    "waveform": Case(
        WAVEFORM,
        {"channels": [4, 8, 8], "width_multiplier": 1.0, "dropout": 0.5},
        LOGMEL,
        "'waveform' front-end",
    ),
}
NAMES = sorted(CASES)


def make(name: str, seed: int = 0) -> TaggerModel:
    torch.manual_seed(seed)
    return build_model(name, CASES[name].spec, CASES[name].options)


def features_for(model: TaggerModel, frames: int, batch: int = 2, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, model.input_dim, generator=generator)


def test_every_registered_model_has_a_case() -> None:
    assert set(MODELS) == set(CASES)


@pytest.mark.parametrize("name", NAMES)
def test_logits_of_any_length(name: str) -> None:
    model = make(name).eval()
    spec = CASES[name].spec
    assert model.input_dim == {LOGMEL: 16, EMBEDDING: 12, WAVEFORM: 8, AISFX_MEL: 96}[spec]
    assert 1 <= model.min_frames <= spec.segment_frames
    with torch.no_grad():
        for frames in (
            model.min_frames,
            model.min_frames + 1,
            spec.segment_frames,
            7 * spec.segment_frames + 3,
        ):
            logits = model(features_for(model, frames))
            assert logits.shape == (2, len(CLASSES))
            assert logits.dtype == torch.float32
            assert torch.isfinite(logits).all()
            features = features_for(model, frames)
            embeddings, lengths = model.embed(features, torch.full((2,), frames))
            assert embeddings.dim() == 3
            assert embeddings.shape[0] == 2
            assert embeddings.shape[1] >= 1
            assert lengths.tolist() == [embeddings.shape[1]] * 2


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name: str) -> None:
    model = make(name).train()
    features = features_for(model, CASES[name].spec.segment_frames, batch=4)
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    functional.binary_cross_entropy_with_logits(model(features), targets).backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, f"no gradient reaches {silent}"


@pytest.mark.parametrize("name", NAMES)
def test_a_spec_that_does_not_fit_is_refused(name: str) -> None:
    case = CASES[name]
    if case.bad_spec is None:
        model = build_model(name, LOGMEL, case.options)  # fits every front-end, e.g. log-mel frames
        assert model.input_dim == 16
        return
    with pytest.raises(ValueError, match=case.bad_match):
        build_model(name, case.bad_spec, case.options)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_input_shapes_are_refused(name: str) -> None:
    model = make(name).eval()
    with pytest.raises(ValueError, match=f"features have dim {model.input_dim + 1}"):
        model(torch.zeros(2, 40, model.input_dim + 1))
    with pytest.raises(ValueError, match=r"shape \(batch, frames, dim\)"):
        model(torch.zeros(40, model.input_dim))
    if model.min_frames > 1:
        with pytest.raises(ValueError, match=f"needs at least {model.min_frames}"):
            model(torch.zeros(2, model.min_frames - 1, model.input_dim))


@pytest.mark.parametrize("name", NAMES)
def test_segments_shorter_than_min_frames_are_refused(name: str) -> None:
    model = make(name)
    if model.min_frames == 1:
        pytest.skip(f"{name} accepts a single frame")
    short = dataclasses.replace(CASES[name].spec, segment_frames=model.min_frames - 1)
    with pytest.raises(ValueError, match=f"needs at least {model.min_frames} frames"):
        build_model(name, short, CASES[name].options)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_refused_by_name(name: str) -> None:
    with pytest.raises(ConfigError, match=f"model '{name}'.*unknown config key widht"):
        build_model(name, CASES[name].spec, {**CASES[name].options, "widht": 2})


@pytest.mark.parametrize("name", NAMES)
def test_eval_is_deterministic_and_dropout_is_the_only_noise(name: str) -> None:
    model = make(name)
    features = features_for(model, CASES[name].spec.segment_frames, batch=4)
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(features), model(features))
        model.train()
        assert not torch.equal(model(features), model(features))
        for module in model.modules():  # without dropout, training mode is deterministic too
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        assert torch.equal(model(features), model(features))


@pytest.mark.parametrize("name", NAMES)
def test_seeded_construction_repeats_exactly(name: str) -> None:
    first, second, other = make(name, seed=3), make(name, seed=3), make(name, seed=4)
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), key
    assert any(not torch.equal(a, b) for a, b in zip(first.parameters(), other.parameters(), strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_traced_models_match_eager_with_and_without_lengths(name: str) -> None:
    model = make(name).eval()
    segment = CASES[name].spec.segment_frames
    example = features_for(model, segment)
    traced = torch.jit.trace(model, example)
    traced_lengths = torch.jit.trace(model, (example, torch.tensor([segment, segment - 1])))
    # traced on a batch without padding: the masks must still be in the graph (eager skips them)
    unpadded = features_for(model, segment, batch=2)
    traced_full = torch.jit.trace(model, (unpadded, torch.tensor([segment, segment])))
    with torch.no_grad():
        for frames in (segment, 3 * segment + 1):
            features = features_for(model, frames, batch=3, seed=frames)
            torch.testing.assert_close(traced(features), model(features))
            lengths = torch.tensor([frames, max(model.min_frames, frames // 2), model.min_frames])
            torch.testing.assert_close(traced_lengths(features, lengths), model(features, lengths))
            torch.testing.assert_close(traced_full(features, lengths), model(features, lengths))


POOLINGS = ("mean", "max", "logsumexp", "attention", "attention_probability", "attention_sigmoid")


def has_pooling_option(name: str) -> bool:
    return "pooling" in {f.name for f in dataclasses.fields(MODELS.entry(name).config_class)}


# every model with a pooling option x every pooling; the probes (their pooling is fixed) once each
PADDING_CASES = [
    (name, pooling) for name in NAMES for pooling in (POOLINGS if has_pooling_option(name) else (None,))
]


def fit_on_random_clips(model: TaggerModel) -> None:
    """Fit input statistics far from the identity, so that padding would show through them."""
    generator = torch.Generator().manual_seed(11)
    clips = [
        (3.0 + 2.0 * torch.randn(frames, model.input_dim, generator=generator)).numpy()
        for frames in (4, 9, 1)
    ]
    model.fit_input_statistics(iter(clips))


@pytest.mark.parametrize(("name", "pooling"), PADDING_CASES)
def test_a_padded_clip_scores_exactly_as_the_clip_alone(name: str, pooling: str | None) -> None:
    torch.manual_seed(0)
    options = CASES[name].options if pooling is None else {**CASES[name].options, "pooling": pooling}
    model = build_model(name, CASES[name].spec, options).eval()
    fit_on_random_clips(model)
    for module in model.modules():  # random batch-norm statistics, so the padding would show
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            if module.affine:
                module.bias.data.uniform_(-1, 1)
    if pooling is not None and pooling.startswith("attention"):  # weights may start at zero: randomise
        torch.nn.init.normal_(model.pooling.attention.weight)
    segment = CASES[name].spec.segment_frames
    lengths = [model.min_frames, model.min_frames + 1, segment - 1, segment + 5]
    clips = [features_for(model, n, batch=1, seed=n)[0] for n in lengths]
    with torch.no_grad():
        alone = torch.cat([model(clip[None]) for clip in clips])
        for padded_frames, fill in (
            (max(lengths), 0.0),
            (3 * max(lengths) + 2, 0.0),
            (max(lengths) + 7, 9.0),
        ):
            batch = torch.full((len(clips), padded_frames, model.input_dim), fill)
            for row, clip in enumerate(clips):
                batch[row, : len(clip)] = clip
            padded = model(batch, torch.tensor(lengths))
            torch.testing.assert_close(padded, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name: str) -> None:
    model = make(name, seed=5).train()
    fit_on_random_clips(model)  # input statistics, where a model has them, must travel too
    model(features_for(model, CASES[name].spec.segment_frames, batch=4))  # move batch-norm statistics
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    restored = make(name, seed=6)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    features = features_for(model, CASES[name].spec.segment_frames)
    with torch.no_grad():
        torch.testing.assert_close(restored.eval()(features), model.eval()(features), rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_num_parameters_and_config(name: str) -> None:
    model = make(name)
    assert model.num_parameters() == sum(p.numel() for p in model.parameters()) > 0
    next(model.parameters()).requires_grad_(False)
    assert model.num_parameters(trainable_only=True) < model.num_parameters()
    assert model.num_classes == len(CLASSES)
    assert isinstance(model.config, MODELS.entry(name).config_class)


@pytest.mark.parametrize(("name", "pooling"), PADDING_CASES)
def test_every_model_and_pooling_exports_and_matches_at_three_lengths(
    name: str, pooling: str | None, tmp_path
) -> None:
    """TorchScript export of every model x pooling, compared with the eager model at three input
    lengths (export_model refuses a difference above its tolerance); a refused export leaves no file."""
    from earmark.export import export_model

    torch.manual_seed(0)
    options = CASES[name].options if pooling is None else {**CASES[name].options, "pooling": pooling}
    model = build_model(name, CASES[name].spec, options).eval()
    fit_on_random_clips(model)
    if pooling is not None and pooling.startswith("attention"):
        torch.nn.init.normal_(model.pooling.attention.weight)
    worst = export_model(model, CASES[name].spec, tmp_path / "model.pt", "torchscript")
    assert worst <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "model.spec.json"]
