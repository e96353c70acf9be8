"""``aisfx_cnn``: the pretrained network, its blocks, padding, learning rates and batch norm.

The contract (tests/models/test_models_contract.py) runs a narrow random-weight ``aisfx_cnn``
everywhere; the tests here marked ``needs_aisfx`` load aisfx's weights and are skipped, with the
install command as the reason, where the optional package is absent.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
import torch
from torch.nn import functional

from earmark.config import ConfigError, from_dict
from earmark.features import LogMelConfig
from earmark.features.aisfx import Aisfx, AisfxConfig, AisfxMel, AisfxMelConfig, AisfxUnavailableError
from earmark.models import build_model
from earmark.models.aisfx_cnn import AisfxCnnConfig, AisfxCnnTagger, block_counts, cut_blocks
from earmark.spec import TaggingSpec
from earmark.testing import aisfx_missing
from earmark.training.config import TrainConfig
from earmark.training.schedule import build_optimizer

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
]

CLASSES = ("dog", "rain", "siren")
SPEC = TaggingSpec(CLASSES, AisfxMelConfig(), segment_frames=100)
TINY = {"pretrained": False, "base_channels": 4}


needs_aisfx = pytest.mark.skipif(aisfx_missing() is not None, reason=aisfx_missing() or "")


def _noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    envelope = np.sin(np.linspace(0, 9, round(seconds * 44100))) ** 2
    return (0.3 * rng.standard_normal(len(envelope)) * envelope).astype(np.float32)


@pytest.fixture(scope="module")
def pretrained() -> AisfxCnnTagger:
    if aisfx_missing() is not None:
        pytest.skip(aisfx_missing() or "")
    torch.manual_seed(0)
    model = build_model("aisfx_cnn", SPEC, {})
    assert isinstance(model, AisfxCnnTagger)
    return model


# --- without the package -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "hop", "expected"), [(1, 50, 1), (100, 50, 1), (101, 50, 2), (150, 50, 2), (151, 50, 3)]
)
def test_blocks_cover_the_input_as_the_aisfx_front_end_does(frames, hop, expected):
    features = torch.arange(frames, dtype=torch.float32)[None, :, None].expand(1, frames, 2)
    blocks = cut_blocks(features, 100, hop)
    assert blocks.shape == (1, expected, 100, 2)
    assert block_counts(torch.tensor([frames]), hop).tolist() == [expected]
    # block k starts at frame k * hop; frames past the end are zero (silence in aisfx's scale)
    assert blocks[0, -1, 0, 0] == (expected - 1) * hop
    tail = (expected - 1) * hop + 100 - frames
    if tail:
        assert blocks[0, -1, -tail:].abs().max() == 0


def test_a_spec_of_another_front_end_is_refused_with_the_fix():
    spec = TaggingSpec(CLASSES, LogMelConfig(n_mels=96), segment_frames=100)
    with pytest.raises(ValueError, match=r"needs the 'aisfx_mel' front-end.*--frontend-set name=aisfx_mel"):
        build_model("aisfx_cnn", spec, TINY)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"block_hop_frames": 0}, r"block_hop_frames must be in \[1, 100\], got 0"),
        ({"block_hop_frames": 101}, r"block_hop_frames must be in \[1, 100\], got 101"),
        ({"backbone_lr_scale": -0.1}, r"backbone_lr_scale must be in \[0, 1\]"),
        ({"backbone_lr_scale": 2.0}, r"backbone_lr_scale must be in \[0, 1\]"),
        ({"backbone_batchnorm": "running"}, "backbone_batchnorm"),
        ({"base_channels": 32}, "base_channels must be 64 with pretrained weights"),
        ({"pretrained": False, "base_channels": 0}, "base_channels must be positive"),
    ],
    ids=["hop0", "hop101", "scale-", "scale2", "batchnorm", "width_pretrained", "width0"],
)
def test_bad_options_are_refused_by_name(options, message):
    with pytest.raises(ConfigError, match=f"model 'aisfx_cnn': {message}"):
        build_model("aisfx_cnn", SPEC, options)


def test_a_directly_built_config_checks_its_batch_norm_mode():
    with pytest.raises(ConfigError, match="backbone_batchnorm must be 'frozen' or 'train', got 'running'"):
        AisfxCnnConfig(backbone_batchnorm="running")  # type: ignore[arg-type]


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "aisfx", None)  # makes `import aisfx` fail
    with pytest.raises(AisfxUnavailableError, match=r"model 'aisfx_cnn'.*make install-aisfx"):
        build_model("aisfx_cnn", SPEC, {})
    build_model("aisfx_cnn", SPEC, TINY)  # random weights need no package


def test_parameter_groups_scale_the_backbone_learning_rate():
    model = build_model("aisfx_cnn", SPEC, {**TINY, "backbone_lr_scale": 0.25})
    config = from_dict(TrainConfig, {"optim": {"lr": 0.004}})
    optimizer = build_optimizer(model, config)
    rates = sorted(group["lr"] for group in optimizer.param_groups)
    assert rates == pytest.approx([0.001, 0.004])
    backbone = {id(p) for p in model.backbone.parameters()}
    for group in optimizer.param_groups:
        owned = {id(p) in backbone for p in group["params"]}
        assert owned == ({True} if group["lr"] == pytest.approx(0.001) else {False})


def test_a_zero_scale_freezes_the_backbone():
    model = build_model("aisfx_cnn", SPEC, {**TINY, "backbone_lr_scale": 0.0}).train()
    before = [p.detach().clone() for p in model.backbone.parameters()]
    functional.binary_cross_entropy_with_logits(
        model(torch.rand(4, 100, 96)), torch.eye(3)[[0, 1, 2, 0]]
    ).backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.pooling.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.backbone.parameters(), strict=True))


@pytest.mark.parametrize("mode", ["frozen", "train"])
def test_backbone_batch_norm_mode_in_training(mode):
    model = build_model("aisfx_cnn", SPEC, {**TINY, "backbone_batchnorm": mode}).train()
    norms = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    statistics = [m.running_mean.clone() for m in norms]
    model(torch.rand(4, 100, 96))
    moved = [not torch.equal(a, m.running_mean) for a, m in zip(statistics, norms, strict=True)]
    assert all(m.training == (mode == "train") for m in norms)
    assert all(moved) if mode == "train" else not any(moved)
    assert model.embedding_norm.training  # the head's batch norm always trains
    model.eval()
    assert not any(m.training for m in model.modules())


# --- with the package --------------------------------------------------------------------------


@needs_aisfx
def test_pretrained_blocks_give_the_aisfx_front_end_embeddings(pretrained):
    waveform = _noise(5.0, seed=1)
    expected = Aisfx(AisfxConfig(), device="cpu").compute(waveform)  # (4, 512), hop 50 frames
    mel = torch.from_numpy(AisfxMel(AisfxMelConfig()).compute(waveform))[None]
    with torch.no_grad():
        blocks = cut_blocks(mel, 100, pretrained.hop_frames)[0]
        embeddings = pretrained.backbone.eval()(blocks).numpy()
    assert embeddings.shape == expected.shape == (4, 512)
    np.testing.assert_allclose(embeddings, expected, rtol=1e-4, atol=1e-4)


@needs_aisfx
def test_pretrained_padding_gradients_and_export(pretrained, tmp_path):
    from earmark.export import export_model

    model = pretrained.eval()
    waveforms = [_noise(seconds, seed) for seed, seconds in enumerate((1.0, 2.32, 4.3))]
    mels = [torch.from_numpy(AisfxMel(AisfxMelConfig()).compute(w)) for w in waveforms]
    with torch.no_grad():
        alone = torch.cat([model(m[None]) for m in mels])
        batch = torch.full((3, max(len(m) for m in mels) + 30, 96), 5.0)  # padding is not silence
        for row, mel in enumerate(mels):
            batch[row, : len(mel)] = mel
        padded = model(batch, torch.tensor([len(m) for m in mels]))
    torch.testing.assert_close(padded, alone, rtol=1e-4, atol=1e-4)
    assert export_model(model, SPEC, tmp_path / "model.pt", "torchscript") <= 1e-4

    model.train()
    functional.binary_cross_entropy_with_logits(model(batch[:2, :100]), torch.eye(3)[:2]).backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, f"no gradient reaches {silent}"
    model.zero_grad(set_to_none=True)
    model.eval()


@needs_aisfx
def test_pretrained_weights_are_the_packages(pretrained):
    network = importlib.import_module("aisfx.models.cnn2d").EmbeddingNet("max", 3, 1, 64)
    network.load_state_dict(pretrained.backbone.state_dict(), strict=True)  # same names and shapes
    blocks = torch.from_numpy(AisfxMel(AisfxMelConfig()).compute(_noise(2.3, seed=4))[:100])[None]
    with torch.no_grad():
        torch.testing.assert_close(pretrained.backbone.eval()(blocks), network.eval()(blocks))
