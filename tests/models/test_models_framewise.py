"""The frame-wise models: input standardisation, batch norm on valid frames, their poolings."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from earmark.config import ConfigError, from_dict
from earmark.features import PrecomputedConfig
from earmark.models import TaggerModel, build_model
from earmark.models.framewise import InputStandardizer, RunningMoments, floor_std
from earmark.models.pooling import (
    SigmoidAttentionPooling,
    attention_probability_pool,
    attention_sigmoid_pool,
)
from earmark.spec import TaggingSpec
from earmark.testing.prepared import make_prepared
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer

DIM = 6
SPEC = TaggingSpec(("a", "b", "c"), PrecomputedConfig(source="aisfx", dim=DIM), segment_frames=8)
FRAMEWISE = {
    "attention_mil": {"hidden_layers": 2, "hidden_units": 5, "dropout": 0.3},
    "linear": {"dropout": 0.3},
    "mlp": {"hidden_layers": 1, "hidden_units": 5, "dropout": 0.3, "statistics": ["mean", "max", "std"]},
}


def build(name: str, seed: int = 0, **options: object) -> TaggerModel:
    torch.manual_seed(seed)
    return build_model(name, SPEC, {**FRAMEWISE[name], **options})


def random_clips(lengths: tuple[int, ...], seed: int = 0, offset: float = 3.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    scales = np.linspace(0.5, 2.0, DIM)
    return [(offset + scales * rng.standard_normal((n, DIM))).astype(np.float32) for n in lengths]


def pad(clips: list[np.ndarray], frames: int, fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    batch = torch.full((len(clips), frames, DIM), fill)
    for row, clip in enumerate(clips):
        batch[row, : len(clip)] = torch.from_numpy(clip)
    return batch, torch.tensor([len(c) for c in clips])


def batch_norms(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


# ------------------------------------------------------------------ moments and standardisation


def test_running_moments_match_numpy_and_survive_a_large_offset() -> None:
    rng = np.random.default_rng(1)
    blocks = [1e6 + rng.standard_normal((n, 3)) * [1e-2, 1.0, 5.0] for n in (1, 7, 30, 2)]
    moments = RunningMoments(3)
    for block in blocks:
        moments.update(block)
    moments.update(np.zeros((0, 3)))  # an empty block changes nothing
    everything = np.concatenate(blocks)
    assert moments.count == len(everything)
    np.testing.assert_allclose(moments.mean, everything.mean(axis=0), rtol=1e-14)
    # a naive float64 sum of squares would lose the 1e-2 std under the 1e6 offset entirely
    np.testing.assert_allclose(moments.std, everything.std(axis=0), rtol=1e-6)


def test_floor_std_lifts_near_constant_dimensions_only() -> None:
    std = np.array([0.0, 1e-9, 1.0, 2.0])
    floored = floor_std(std)
    typical = np.sqrt(np.mean(std**2))
    np.testing.assert_allclose(floored, [0.01 * typical, 0.01 * typical, 1.0, 2.0])
    np.testing.assert_array_equal(floor_std(np.zeros(3)), np.ones(3))


@pytest.mark.parametrize("name", sorted(FRAMEWISE))
def test_standardisation_is_fitted_on_every_training_frame(name: str) -> None:
    clips = random_clips((3, 1, 8, 5))
    model = build(name)
    model.fit_input_statistics(iter(clips))
    frames = np.concatenate(clips).astype(np.float64)
    standardizer = model.standardizer
    assert isinstance(standardizer, InputStandardizer)
    np.testing.assert_allclose(standardizer.mean.numpy(), frames.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(standardizer.std.numpy(), frames.std(axis=0), rtol=1e-6)
    assert int(standardizer.fitted_frames) == len(frames)


@pytest.mark.parametrize("name", ["attention_mil", "linear"])
def test_the_trainer_fits_the_standardisation_on_the_training_split(name: str, tmp_path) -> None:
    prepared = make_prepared(tmp_path / "prepared", num_clips=24, min_frames=5, max_frames=30)
    config = {
        "data": {"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
        "model": name,
        "model_options": {"hidden_units": 8, "hidden_layers": 1} if name == "attention_mil" else {},
        "segment_frames": 30,  # every clip padded to 30 frames in its batch
        "batch_size": 8,
        "epochs": 2,
        "device": "cpu",
        "report": False,
        "optim": {"warmup_steps": 1},
    }
    trainer = Trainer(from_dict(TrainConfig, config), tmp_path / "run")
    train_ids = trainer.splits["train"].clip_ids.tolist()
    frames = np.concatenate([np.asarray(trainer.stores[c], dtype=np.float64) for c in train_ids])
    standardizer = trainer.model.standardizer
    np.testing.assert_allclose(standardizer.mean.numpy(), frames.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(standardizer.std.numpy(), frames.std(axis=0), rtol=1e-5)
    assert int(standardizer.fitted_frames) == len(frames)
    fitted = standardizer.mean.clone()
    trainer.fit()
    assert torch.equal(trainer.model.standardizer.mean, fitted)


@pytest.mark.parametrize("name", sorted(FRAMEWISE))
def test_float16_clips_from_a_store_are_fitted_in_float64(name: str) -> None:
    clips = random_clips((4, 6), offset=200.0)
    model = build(name)
    model.fit_input_statistics(c.astype(np.float16) for c in clips)
    frames = np.concatenate([c.astype(np.float16) for c in clips]).astype(np.float64)
    np.testing.assert_allclose(model.standardizer.mean.numpy(), frames.mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(FRAMEWISE))
def test_training_on_padded_batches_leaves_the_standardisation_alone(name: str) -> None:
    model = build(name)
    model.fit_input_statistics(iter(random_clips((3, 5, 2))))
    fitted = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("standardizer.")}
    batch, lengths = pad(random_clips((2, 7, 4), seed=3, offset=-5.0), 12, fill=50.0)
    model.train()
    model(batch, lengths).sum().backward()
    model(batch).sum().backward()  # even the padding counted as frames does not move it
    for key, value in fitted.items():
        assert torch.equal(model.state_dict()[key], value), key


@pytest.mark.parametrize("name", sorted(FRAMEWISE))
def test_input_statistics_travel_in_the_state_dict(name: str) -> None:
    model = build(name, seed=1)
    model.fit_input_statistics(iter(random_clips((4, 6, 3))))
    assert {"standardizer.mean", "standardizer.std", "standardizer.fitted_frames"} <= set(model.state_dict())
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    restored = build(name, seed=2)  # never fitted
    assert int(restored.standardizer.fitted_frames) == 0
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    for key, value in model.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key
    batch, lengths = pad(random_clips((5, 2), seed=4), 6)
    with torch.no_grad():
        torch.testing.assert_close(
            restored.eval()(batch, lengths), model.eval()(batch, lengths), rtol=0, atol=0
        )


@pytest.mark.parametrize("name", sorted(FRAMEWISE))
def test_an_unfitted_model_standardises_with_the_identity(name: str) -> None:
    model = build(name).eval()
    assert torch.equal(model.standardizer.mean, torch.zeros(DIM))
    assert torch.equal(model.standardizer.std, torch.ones(DIM))
    features = torch.randn(2, 4, DIM)
    torch.testing.assert_close(model.standardizer(features), features, rtol=0, atol=0)


def test_probe_embeddings_are_the_standardised_frames() -> None:
    model = build("linear")
    clips = random_clips((3, 5))
    batch, lengths = pad(clips, 7, fill=4.0)
    unfitted, _ = model.embed(batch, lengths)
    torch.testing.assert_close(unfitted, pad(clips, 7)[0])  # identity; padding zeroed
    model.fit_input_statistics(iter(clips))
    fitted, out_lengths = model.embed(batch, lengths)
    frames = np.concatenate(clips).astype(np.float64)
    expected = (clips[1] - frames.mean(axis=0)) / frames.std(axis=0)
    np.testing.assert_allclose(fitted[1, :5].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(fitted[0, 3:], torch.zeros(4, DIM))
    assert torch.equal(out_lengths, lengths)


@pytest.mark.parametrize("name", sorted(FRAMEWISE))
def test_standardize_false_has_nothing_to_fit(name: str) -> None:
    model = build(name, standardize=False)
    model.fit_input_statistics(iter(random_clips((3,))))
    state = model.state_dict()
    assert not [key for key in state if "standardizer" in key]
    if name != "attention_mil":  # the clip-vector standardisation stays the identity
        assert torch.equal(state["pooling.center"], torch.zeros_like(state["pooling.center"]))
        assert torch.equal(state["pooling.scale"], torch.ones_like(state["pooling.scale"]))


@pytest.mark.parametrize("name", sorted(FRAMEWISE))
def test_bad_training_clips_are_named(name: str) -> None:
    model = build(name)
    good = random_clips((3,))[0]
    with pytest.raises(ValueError, match=rf"training clip 1: expected frames of shape \(num_frames, {DIM}\)"):
        model.fit_input_statistics(iter([good, good[:, :2]]))
    bad = good.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="training clip 0 holds NaN or infinite values"):
        model.fit_input_statistics(iter([bad]))
    with pytest.raises(ValueError, match="no training frames"):
        model.fit_input_statistics(iter([]))


def test_a_dimension_constant_in_training_stays_finite() -> None:
    clips = random_clips((4, 5))
    for clip in clips:
        clip[:, 0] = 1.5
    model = build("attention_mil").eval()
    model.fit_input_statistics(iter(clips))
    assert float(model.standardizer.std[0]) > 0
    batch, lengths = pad(random_clips((3,), seed=9), 3)
    assert torch.isfinite(model(batch, lengths)).all()


# ------------------------------------------------------------------ batch norm on valid frames


@pytest.mark.parametrize("name", sorted(FRAMEWISE))
def test_batch_norm_training_statistics_ignore_the_padding(name: str) -> None:
    """One train-mode step on the same clips padded two ways moves batch norm identically."""
    clips = random_clips((2, 7, 4), seed=5)
    outputs, stats = [], []
    for frames, fill in ((7, 0.0), (15, 9.0)):
        model = build(name, seed=3, dropout=0.0)
        model.fit_input_statistics(iter(random_clips((6, 6))))
        model.train()
        outputs.append(model(*pad(clips, frames, fill)))
        stats.append([(m.running_mean.clone(), m.running_var.clone()) for m in batch_norms(model)])
    assert bool(stats[0]) == (name != "linear")  # linear has no batch norm; its output is still checked
    for (mean_a, var_a), (mean_b, var_b) in zip(*stats, strict=True):
        torch.testing.assert_close(mean_a, mean_b, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(var_a, var_b, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)


def test_attention_mil_batch_norm_sees_exactly_the_valid_frames() -> None:
    """Padded batch with lengths = all its valid frames as one unpadded row, for the frame statistics."""
    clips = random_clips((2, 7, 4), seed=6)
    padded = build("attention_mil", seed=4, dropout=0.0).train()
    padded(*pad(clips, 9))
    unpadded = build("attention_mil", seed=4, dropout=0.0).train()
    unpadded(torch.from_numpy(np.concatenate(clips))[None])
    counted = build("attention_mil", seed=4, dropout=0.0).train()
    counted(pad(clips, 9)[0])  # no lengths: the padding counts as frames
    for a, b in zip(batch_norms(padded), batch_norms(unpadded), strict=True):
        torch.testing.assert_close(a.running_mean, b.running_mean, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(a.running_var, b.running_var, rtol=1e-6, atol=1e-6)
    on_input, counted_input = batch_norms(padded)[0], batch_norms(counted)[0]
    assert not torch.allclose(on_input.running_mean, counted_input.running_mean, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ attention_mil as released


def test_attention_mil_defaults_are_the_released_model() -> None:
    model = build_model("attention_mil", SPEC)
    config = model.config
    assert (config.standardize, config.input_norm, config.hidden_norm, config.residual) == (True,) * 4
    assert config.pooling == "attention_sigmoid"
    assert (config.hidden_layers, config.hidden_units, config.dropout) == (3, 128, 0.6)
    assert isinstance(model.pooling, SigmoidAttentionPooling)
    assert len(batch_norms(model)) == 1 + 3  # on the input, after each hidden layer


def test_the_old_attention_mil_is_reachable() -> None:
    old = {"standardize": False, "input_norm": False, "hidden_norm": False, "residual": False}
    model = build("attention_mil", **old, pooling="attention_probability")
    assert not batch_norms(model)
    assert not [k for k in model.state_dict() if "standardizer" in k]
    linears = [m for m in model.layers if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 2
    assert all(m.bias is not None for m in linears)


def test_the_residual_adds_the_normalised_input_when_the_widths_match() -> None:
    model = build("attention_mil", hidden_units=DIM, dropout=0.0)
    assert model.uses_residual
    assert not build("attention_mil", hidden_units=DIM + 1).uses_residual  # shapes do not allow it
    assert not build("attention_mil", hidden_units=DIM, residual=False).uses_residual
    model.fit_input_statistics(iter(random_clips((5, 4))))
    for module in model.layers:
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.zeros_(module.weight)  # the hidden block now outputs ReLU(0) = 0
    model.eval()
    batch, lengths = pad(random_clips((3, 2), seed=7), 4)
    embeddings, _ = model.embed(batch, lengths)
    expected = model.input_norm(model.standardizer(batch).reshape(-1, DIM)).reshape(batch.shape)
    torch.testing.assert_close(embeddings[0, :3], expected[0, :3])
    torch.testing.assert_close(embeddings[1, :2], expected[1, :2])
    assert torch.equal(embeddings[1, 2:], torch.zeros(2, DIM))


# ------------------------------------------------------------------ poolings against numpy


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def test_attention_sigmoid_pool_equals_a_direct_computation() -> None:
    rng = np.random.default_rng(8)
    frame_logits = rng.normal(size=(2, 4, 3)) * 2
    attention_logits = rng.normal(size=(2, 4, 3)) * 2
    lengths = np.array([4, 2])
    expected = np.zeros((2, 3))
    for row, length in enumerate(lengths):
        weights = sigmoid(attention_logits[row, :length])
        weights = weights / weights.sum(axis=0)
        probability = (weights * sigmoid(frame_logits[row, :length])).sum(axis=0)
        expected[row] = np.log(probability / (1 - probability))
    pooled = attention_sigmoid_pool(
        torch.from_numpy(frame_logits), torch.from_numpy(attention_logits), torch.from_numpy(lengths)
    )
    np.testing.assert_allclose(pooled.numpy(), expected, rtol=1e-10, atol=1e-10)
    # the softmax pooling differs: the weights are not a softmax of the attention logits
    softmax = attention_probability_pool(
        torch.from_numpy(frame_logits), torch.from_numpy(attention_logits), torch.from_numpy(lengths)
    )
    assert not np.allclose(softmax.numpy(), expected, atol=1e-3)


def test_sigmoid_attention_module_equals_a_direct_computation() -> None:
    torch.manual_seed(0)
    pooling = SigmoidAttentionPooling(4, 2).double()
    embeddings = torch.randn(1, 5, 4, dtype=torch.float64)
    weights = {k: v.detach().numpy() for k, v in pooling.state_dict().items()}
    x = embeddings[0, :3].numpy()
    attention = sigmoid(x @ weights["attention.weight"].T + weights["attention.bias"])
    attention /= attention.sum(axis=0)
    classes = sigmoid(x @ weights["classifier.weight"].T + weights["classifier.bias"])
    probability = (attention * classes).sum(axis=0)
    expected = np.log(probability / (1 - probability))
    pooled = pooling(embeddings, torch.tensor([3]))
    np.testing.assert_allclose(pooled[0].detach().numpy(), expected, rtol=1e-10)


def test_attention_sigmoid_stays_finite_with_gradients_when_saturated() -> None:
    frame_logits = torch.tensor([[[60.0, -70.0], [80.0, -90.0]]], requires_grad=True)
    attention = torch.tensor([[[-200.0, 0.0], [30.0, 50.0]]])
    pooled = attention_sigmoid_pool(frame_logits, attention)
    assert torch.isfinite(pooled).all()
    pooled.sum().backward()
    assert frame_logits.grad is not None
    assert torch.isfinite(frame_logits.grad).all()


@pytest.mark.parametrize("statistics", [["mean", "max"], ["max"], ["std", "mean"]])
def test_linear_equals_a_hand_computation(statistics: list[str]) -> None:
    train = random_clips((3, 6, 1, 4), seed=10)
    model = build("linear", statistics=statistics).eval()
    model.fit_input_statistics(iter(train))
    torch.nn.init.normal_(model.pooling.classifier[1].weight)
    torch.nn.init.normal_(model.pooling.classifier[1].bias)
    weight = model.pooling.classifier[1].weight.detach().double().numpy()
    bias = model.pooling.classifier[1].bias.detach().double().numpy()

    frames = np.concatenate(train).astype(np.float64)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    reducers = {"mean": np.mean, "max": np.max, "std": np.std}

    def clip_vector(clip: np.ndarray) -> np.ndarray:
        standardized = (clip.astype(np.float64) - mean) / std
        return np.concatenate([reducers[s](standardized, axis=0) for s in statistics])

    train_vectors = np.stack([clip_vector(c) for c in train])
    center, scale = train_vectors.mean(axis=0), train_vectors.std(axis=0)
    test = random_clips((2, 5), seed=11)
    expected = np.stack([(clip_vector(c) - center) / scale @ weight.T + bias for c in test])
    with torch.no_grad():
        logits = model(*pad(test, 8, fill=-3.0))
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_probe_statistics_are_checked() -> None:
    with pytest.raises(ConfigError, match="statistics must list at least one of mean, max, std"):
        build("linear", statistics=[])
    with pytest.raises(ConfigError, match="statistics lists a statistic twice"):
        build("linear", statistics=["max", "max"])
    with pytest.raises(ConfigError, match=r"statistics\[0\] must be one of 'mean', 'max', 'std'"):
        build("mlp", statistics=["median"])
    with pytest.raises(ConfigError, match=r"model 'linear'.*unknown config key pooling"):
        build("linear", pooling="max")


def test_probe_widths_follow_the_statistics() -> None:
    linear = build("linear", statistics=["mean", "max", "std"])
    assert linear.pooling.classifier[1].in_features == 3 * DIM
    mlp = build("mlp", statistics=["max"], hidden_units=7)
    assert mlp.pooling.classifier[0].in_features == DIM
    assert mlp.pooling.classifier[-1].out_features == len(SPEC.class_names)


def test_dropout_keeps_the_mean_and_zeroes_a_share_p() -> None:
    from earmark.models.framewise import Dropout

    torch.manual_seed(0)
    layer = Dropout(0.6)
    values = torch.ones(200_000)
    dropped = layer(values)
    assert float((dropped == 0).float().mean()) == pytest.approx(0.6, abs=0.005)
    assert float(dropped.mean()) == pytest.approx(1.0, abs=0.02)
    assert torch.unique(dropped).tolist() == pytest.approx([0.0, 2.5])
    layer.eval()
    assert torch.equal(layer(values), values)
    assert torch.equal(Dropout(0.0).train()(values), values)
    assert torch.equal(Dropout(1.0).train()(values), torch.zeros_like(values))
    source = torch.randn(64, 32, requires_grad=True)
    out = Dropout(0.5)(source)
    out.sum().backward()
    assert source.grad is not None
    assert torch.equal(source.grad == 0, out == 0)  # the gradient flows through the kept values only


def test_unpadded_batches_skip_the_gather_and_give_the_same_frames() -> None:
    from earmark.models.framewise import scatter_frames, valid_frames

    features = torch.randn(3, 5, 4)
    full = torch.tensor([5, 5, 5])
    frames, mask = valid_frames(features, full)
    assert mask is None
    assert torch.equal(frames, features.reshape(15, 4))
    assert torch.equal(scatter_frames(frames, mask, (3, 5)), features)
    padded = torch.tensor([5, 2, 5])
    frames, mask = valid_frames(features, padded)
    assert mask is not None
    assert frames.shape == (12, 4)
    back = scatter_frames(frames, mask, (3, 5))
    assert torch.equal(back[1, 2:], torch.zeros(3, 4))
    assert torch.equal(back[0], features[0])
