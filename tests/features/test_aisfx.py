from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from typer.testing import CliRunner

from earmark.config import ConfigError
from earmark.features import FRONTENDS, frontend_config_from_dict
from earmark.features.aisfx import (
    BLOCK_FRAMES,
    Aisfx,
    AisfxConfig,
    AisfxMel,
    AisfxMelConfig,
    AisfxUnavailableError,
    aisfx_log_mel,
    load_aisfx_weights,
    num_blocks,
    num_spectrogram_frames,
    warped_mel_filterbank,
)
from earmark.features.frontend import frames_per_second
from earmark.features.store import FeatureStore
from earmark.testing import aisfx_missing, write_tone
from earmark.training.config import TrainConfig

RATE = 44100


needs_aisfx = pytest.mark.skipif(aisfx_missing() is not None, reason=aisfx_missing() or "")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _noise_burst(seconds: float, sound_seconds: float, seed: int = 0) -> np.ndarray:
    """Band-limited noise for the first ``sound_seconds``, then silence."""
    rng = np.random.default_rng(seed)
    samples = np.zeros(round(seconds * RATE), dtype=np.float32)
    sound = round(sound_seconds * RATE)
    samples[:sound] = 0.3 * rng.standard_normal(sound).astype(np.float32)
    return samples


# --- without the package -----------------------------------------------------------------------


def test_config_defaults_round_trip_and_registration():
    assert FRONTENDS["aisfx"] is Aisfx
    config = AisfxConfig()
    assert (config.sample_rate, config.hop_frames) == (44100, 50)
    data = config.to_config_dict()
    assert data == {"name": "aisfx", "sample_rate": 44100, "hop_seconds": 1.16, "drop_partial_block": False}
    assert frontend_config_from_dict(data) == config
    assert AisfxConfig(hop_seconds=1.0).hop_frames == 43


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sample_rate": 16000}, "needs sample_rate 44100"),
        ({"hop_seconds": 0.001}, "hop_seconds must lie between one frame"),
        ({"hop_seconds": 3.0}, "hop_seconds must lie between one frame"),
        ({"hop_seconds": 4.076401666354458e303}, "hop_seconds must lie between one frame"),  # frames overflow
    ],
)
def test_bad_config_is_refused(fields, message):
    with pytest.raises(ConfigError, match=message):
        AisfxConfig(**fields)


def test_frame_and_block_counts():
    # frame k is centred on sample 1024 k, frames run while they start inside the signal
    assert [num_spectrogram_frames(n) for n in (0, 1, 1024, 1025, 220500)] == [1, 2, 2, 3, 217]
    assert num_blocks(40, 50) == 1
    assert num_blocks(100, 50) == 1
    assert num_blocks(150, 50) == 2
    assert num_blocks(151, 50) == 3
    assert num_blocks(151, 50, drop_partial_block=True) == 2
    assert num_blocks(217, 50, drop_partial_block=True) == 3


def test_filterbank_is_unit_sum_triangles_in_order():
    bank = warped_mel_filterbank(sample_rate=RATE, n_fft=2048, n_mels=96, fmin_hz=0.0, fmax_hz=22050.0)
    assert bank.shape == (96, 1025)
    assert (bank >= 0).all()
    np.testing.assert_allclose(bank.sum(axis=1), 1.0, rtol=1e-9)
    peaks = bank.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all()
    assert peaks[0] <= 2
    assert peaks[-1] > 950


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "aisfx", None)  # makes `import aisfx` fail
    with pytest.raises(AisfxUnavailableError, match=r"make install-aisfx.*--no-deps aisfx==0\.1\.2"):
        Aisfx(AisfxConfig())
    # a ValueError too, so `earmark` prints it as a one-line error
    with pytest.raises(ValueError, match="optional package aisfx"):
        Aisfx(AisfxConfig())


# --- with the package --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frontend() -> Aisfx:
    if aisfx_missing() is not None:
        pytest.skip(aisfx_missing() or "")
    return Aisfx(AisfxConfig(), device="cpu")


@needs_aisfx
def test_weights_load_without_unsafe_pickles(frontend):
    before = {repr(g) for g in torch.serialization.get_safe_globals()}
    weights = load_aisfx_weights(frontend.checkpoint_path)
    assert weights["conv_block1.conv1.weight"].shape == (64, 1, 3, 3)
    after = {repr(g) for g in torch.serialization.get_safe_globals()}
    assert after == before  # the allowance of numpy scalars was scoped to the load
    assert frontend.model is frontend.model  # loaded once


@needs_aisfx
@pytest.mark.parametrize("drop", [False, True])
@pytest.mark.parametrize("seconds", [0.05, 1.0, 2.3, 2.322, 5.0, 7.77])
def test_blocks_match_the_package_blocking(seconds, drop):
    from aisfx.preprocessing import blocking

    config = AisfxConfig(drop_partial_block=drop)
    ours = Aisfx(config, device="cpu")
    waveform = _noise_burst(seconds, seconds)
    blocks = ours.blocks(waveform)
    assert blocks.shape == (ours.num_frames(len(waveform)), BLOCK_FRAMES, 96)
    spectrogram = aisfx_log_mel(
        torch.from_numpy(waveform),
        ours._filterbank,
        ours._window,
        num_frames=num_spectrogram_frames(len(waveform)),
    ).numpy()
    if spectrogram.shape[0] > config.hop_frames:  # the package's blocking refuses shorter ones
        expected = blocking(spectrogram, BLOCK_FRAMES, config.hop_frames, drop)
        np.testing.assert_allclose(blocks.numpy(), expected, atol=1e-6)


@needs_aisfx
def test_spectrogram_is_time_by_mel(frontend):
    # a high tone lights high mel bands on the second axis; silence after 1 s is zero on the first
    t = np.arange(3 * RATE) / RATE
    waveform = np.where(t < 1.0, 0.3 * np.sin(2 * np.pi * 8000.0 * t), 0.0).astype(np.float32)
    block = frontend.blocks(waveform)[0].numpy()  # (frames, mels)
    assert block.shape == (BLOCK_FRAMES, 96)
    assert (block[10:30].argmax(axis=1) > 60).all()
    assert block[60:].max() == 0.0
    assert block[:40].max() > 0.5


@needs_aisfx
def test_ten_seconds_give_one_embedding_per_block(frontend):
    waveform = _noise_burst(10.0, 10.0) * np.sin(np.linspace(0, 40, 10 * RATE)).astype(np.float32)
    embeddings = frontend.compute(waveform)
    assert embeddings.shape == (frontend.num_frames(len(waveform)), 512)
    assert embeddings.shape[0] == 8  # not the one embedding per file of aisfx's librosa path
    assert embeddings.dtype == np.float32
    assert np.isfinite(embeddings).all()
    assert np.ptp(embeddings, axis=0).max() > 0.1  # the blocks differ


@needs_aisfx
def test_batch_equals_one_by_one_and_short_clips_give_one_block(frontend):
    waveforms = [_noise_burst(0.2, 0.2, seed=1), _noise_burst(4.0, 1.0, seed=2), np.zeros(10, np.float32)]
    batched = frontend.compute_batch(waveforms)
    assert [e.shape for e in batched] == [(1, 512), (3, 512), (1, 512)]
    for waveform, embeddings in zip(waveforms, batched, strict=True):
        np.testing.assert_allclose(embeddings, frontend.compute(waveform), atol=1e-4)
    # the second clip is sound, then silence: its first and last blocks differ
    assert _cosine(batched[1][0], batched[1][-1]) < 0.99
    assert frontend.compute_batch([]) == []


@needs_aisfx
def test_bad_waveforms_are_refused(frontend):
    with pytest.raises(ValueError, match="mono waveform"):
        frontend.compute(np.zeros((2, RATE), np.float32))
    bad = np.zeros(RATE, np.float32)
    bad[5] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        frontend.compute(bad)


@needs_aisfx
@pytest.mark.realdata
def test_real_clips_give_different_embeddings(frontend, shared_data):
    root = shared_data / "esc10" / "audio_44k"
    paths = {
        "dog": root / "001 - Dog bark" / "1-100032-A.ogg",
        "rain": root / "002 - Rain" / "1-17367-A.ogg",
        "rain2": root / "002 - Rain" / "1-21189-A.ogg",
    }
    if not all(p.is_file() for p in paths.values()):
        pytest.skip(f"ESC-10 44.1 kHz clips not found under {root}")
    means = {}
    for name, path in paths.items():
        waveform, rate = soundfile.read(path, dtype="float32")
        assert rate == RATE
        embeddings = frontend.compute(waveform)
        assert embeddings.shape == (frontend.num_frames(len(waveform)), 512)
        assert embeddings.shape[0] > 1
        assert np.isfinite(embeddings).all()
        means[name] = embeddings.mean(axis=0)
    assert _cosine(means["dog"], means["rain"]) < 0.9
    assert _cosine(means["rain"], means["rain2"]) > _cosine(means["rain"], means["dog"]) + 0.05


@needs_aisfx
def test_prepare_cli_end_to_end(tmp_path: Path):
    from earmark.cli import app

    root = tmp_path / "audio"
    clips = {
        "001 - Low/1-0-A.wav": (220.0, 1.0),
        "002 - High/1-1-A.wav": (3000.0, 3.5),
        "002 - High/2-2-A.wav": (5000.0, 0.5),
    }
    for name, (hz, seconds) in clips.items():
        write_tone(root / name, frequency_hz=hz, duration_seconds=seconds, sample_rate=RATE)
    result = CliRunner().invoke(
        app,
        [
            "prepare",
            "folder",
            "--root",
            str(root),
            "--out",
            str(tmp_path / "out"),
            "--set",
            r"fold_pattern=^(\d+)-",
            "--frontend-set",
            "name=aisfx",
        ],
    )
    assert result.exit_code == 0, result.output
    store = FeatureStore(tmp_path / "out" / "features" / "all")
    assert store.describe()["dim"] == 512
    frontend_config = AisfxConfig()
    assert store.frontend == frontend_config
    counts = sorted(store[c].shape[0] for c in store.clip_ids.tolist())
    assert counts == [1, 1, 3]


# --- aisfx_mel: the model's own input, stored whole (no package needed) -------------------------


def test_mel_config_round_trips_and_its_frame_rate_makes_seconds_work():
    assert FRONTENDS["aisfx_mel"] is AisfxMel
    config = AisfxMelConfig()
    data = config.to_config_dict()
    assert data == {"name": "aisfx_mel", "sample_rate": 44100}
    assert frontend_config_from_dict(data) == config
    assert frames_per_second(config) == pytest.approx(44100 / 1024)  # 43.07 frames per second
    segmenting = TrainConfig(segment_seconds=2.32, hop_seconds=1.16).segmenting(frames_per_second(config))
    assert (segmenting.segment_frames, segmenting.hop_frames) == (BLOCK_FRAMES, 50)
    assert TrainConfig(segment_seconds=1.0).segmenting(frames_per_second(config)).segment_frames == 43


def test_mel_config_refuses_another_rate():
    with pytest.raises(ConfigError, match="aisfx_mel front-end needs sample_rate 44100"):
        AisfxMelConfig(sample_rate=16000)


def test_mel_frames_are_the_blocks_spectrogram_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "aisfx", None)  # the mel front-end must not need the package
    frontend = AisfxMel(AisfxMelConfig())
    assert (frontend.dim, frontend.frames_per_second) == (96, pytest.approx(43.066, abs=1e-3))
    t = np.arange(3 * RATE) / RATE
    waveform = np.where(t < 1.0, 0.3 * np.sin(2 * np.pi * 8000.0 * t), 0.0).astype(np.float32)
    frames = frontend.compute(waveform)
    assert (
        frames.shape
        == (num_spectrogram_frames(len(waveform)), 96)
        == (frontend.num_frames(len(waveform)), 96)
    )
    assert frames.dtype == np.float32
    assert (frames[10:30].argmax(axis=1) > 60).all()  # time on the first axis, a high tone up high
    assert frames[60:].max() == 0.0  # silence is exactly zero, as the model's zero padding
    assert frames[:40].max() > 0.5
    expected = aisfx_log_mel(
        torch.from_numpy(waveform), frontend._filterbank, frontend._window, num_frames=len(frames)
    ).numpy()
    np.testing.assert_array_equal(frames, expected)
    with pytest.raises(ValueError, match="aisfx_mel needs a mono waveform"):
        frontend.compute(np.zeros((2, RATE), np.float32))
    waveform[7] = np.inf
    with pytest.raises(ValueError, match="aisfx_mel input holds NaN or infinite"):
        frontend.compute(waveform)


@needs_aisfx
def test_mel_frames_cut_into_blocks_are_the_embedding_front_ends_input(frontend):
    waveform = _noise_burst(5.0, 4.0, seed=3)
    frames = torch.from_numpy(AisfxMel(AisfxMelConfig()).compute(waveform))
    blocks = frontend.blocks(waveform)  # (4, 100, 96), hop 50 frames, the last padded with silence
    for index, block in enumerate(blocks):
        start = index * frontend.config.hop_frames
        real = frames[start : start + BLOCK_FRAMES]
        torch.testing.assert_close(block[: len(real)], real)
        assert float(block[len(real) :].abs().sum()) == 0.0  # past the clip's end: silence
    assert len(frames) < (len(blocks) - 1) * frontend.config.hop_frames + BLOCK_FRAMES  # one was padded


def test_prepare_cli_with_the_mel_front_end(tmp_path: Path, monkeypatch):
    from earmark.cli import app

    monkeypatch.setitem(sys.modules, "aisfx", None)
    root = tmp_path / "audio"
    for name, seconds in {"001 - Low/1-0-A.wav": 1.0, "002 - High/2-1-A.wav": 2.5}.items():
        write_tone(root / name, frequency_hz=440.0, duration_seconds=seconds, sample_rate=RATE)
    result = CliRunner().invoke(
        app,
        ["prepare", "folder", "--root", str(root), "--out", str(tmp_path / "out"), "--set",
         r"fold_pattern=^(\d+)-", "--frontend-set", "name=aisfx_mel"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    store = FeatureStore(tmp_path / "out" / "features" / "all")
    assert store.describe()["dim"] == 96
    assert store.frontend == AisfxMelConfig()
    counts = sorted(store[c].shape[0] for c in store.clip_ids.tolist())
    assert counts == [num_spectrogram_frames(RATE), num_spectrogram_frames(round(2.5 * RATE))]
