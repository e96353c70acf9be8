from __future__ import annotations

import librosa
import numpy as np
import pytest

from earmark.features.audio import load_audio
from earmark.features.logmel import LogMel, LogMelConfig, hz_to_mel, mel_filterbank, mel_to_hz

CASES = [
    LogMelConfig(),
    LogMelConfig(mel_scale="htk", slaney_norm=False, n_mels=40, fmin_hz=0.0, fmax_hz=None),
    LogMelConfig(
        sample_rate=22050,
        n_fft=2048,
        window_samples=1764,
        hop_samples=441,
        n_mels=128,
        fmin_hz=20.0,
        fmax_hz=11025.0,
    ),
    LogMelConfig(n_fft=512, window_samples=400, hop_samples=160, n_mels=64, mel_scale="htk"),
]


def librosa_mel(waveform: np.ndarray, c: LogMelConfig) -> np.ndarray:
    return librosa.feature.melspectrogram(
        y=waveform.astype(np.float64),
        sr=c.sample_rate,
        n_fft=c.n_fft,
        hop_length=c.hop_samples,
        win_length=c.window_samples,
        window="hann",
        center=True,
        pad_mode="constant",
        power=c.power,
        n_mels=c.n_mels,
        fmin=c.fmin_hz,
        fmax=c.fmax_hz,
        htk=c.mel_scale == "htk",
        norm="slaney" if c.slaney_norm else None,
    ).T


@pytest.mark.parametrize("scale", ["slaney", "htk"])
def test_mel_scale_round_trip_and_librosa(scale):
    hz = np.array([0.0, 100.0, 999.0, 1000.0, 4000.0, 11025.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz, scale), scale), hz, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(hz_to_mel(hz, scale), librosa.hz_to_mel(hz, htk=scale == "htk"), rtol=1e-12)


@pytest.mark.parametrize("config", CASES, ids=lambda c: f"{c.mel_scale}-{c.n_mels}-{c.sample_rate}")
def test_filterbank_matches_librosa(config):
    ours = mel_filterbank(
        sample_rate=config.sample_rate,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin_hz=config.fmin_hz,
        fmax_hz=config.fmax_hz,
        scale=config.mel_scale,
        normalize=config.slaney_norm,
    )
    theirs = librosa.filters.mel(
        sr=config.sample_rate,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.fmin_hz,
        fmax=config.fmax_hz,
        htk=config.mel_scale == "htk",
        norm="slaney" if config.slaney_norm else None,
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7 * np.abs(theirs).max())


def _relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs))


@pytest.mark.parametrize("config", CASES, ids=lambda c: f"{c.mel_scale}-{c.n_mels}-{c.sample_rate}")
def test_logmel_matches_librosa_on_noise_and_tones(config, rng):
    seconds = 1.3
    t = np.arange(int(seconds * config.sample_rate)) / config.sample_rate
    waveform = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    frontend = LogMel(config)
    ours = frontend.compute(waveform)
    theirs = librosa_mel(waveform, config)
    assert ours.shape == theirs.shape == (frontend.num_frames(t.size), config.n_mels)
    mel = np.exp(ours.astype(np.float64)) - config.log_offset
    assert _relative_error(mel, theirs) < 1e-4
    # element-wise on every bin holding more than a millionth of the peak energy
    strong = theirs > 1e-6 * theirs.max()
    assert (np.abs(mel - theirs)[strong] / theirs[strong]).max() < 1e-4
    np.testing.assert_allclose(ours, np.log(theirs + config.log_offset), atol=1e-4)


def test_logmel_matches_librosa_on_real_clip(shared_data):
    path = shared_data / "esc10/audio/001 - Dog bark/1-100032-A.flac"
    waveform, _ = load_audio(path, 16000)
    config = LogMelConfig()
    mel = np.exp(LogMel(config).compute(waveform).astype(np.float64)) - config.log_offset
    assert _relative_error(mel, librosa_mel(waveform, config)) < 1e-4


def test_batch_equals_one_by_one(rng):
    frontend = LogMel(LogMelConfig())
    waves = [rng.standard_normal(n).astype(np.float32) for n in (16000, 5000, 321, 1)]
    batched = frontend.compute_batch(waves)
    for wave, frames in zip(waves, batched, strict=True):
        np.testing.assert_allclose(frames, frontend.compute(wave), rtol=1e-5, atol=1e-5)
        assert frames.shape[0] == frontend.num_frames(len(wave))
    assert frontend.compute_batch([]) == []
