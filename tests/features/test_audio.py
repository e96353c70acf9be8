from __future__ import annotations

import numpy as np
import pytest

from earmark.features.audio import AudioError, audio_info, load_audio
from earmark.features.waveform import Waveform, WaveformConfig
from earmark.testing import write_broken_files, write_tone


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3"])
def test_decodes_formats_to_mono_at_target_rate(tmp_path, suffix):
    path = write_tone(tmp_path / f"tone{suffix}", sample_rate=22050, channels=2, duration_seconds=0.5)
    samples, rate = load_audio(path, 16000)
    assert rate == 16000
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert abs(len(samples) - 8000) <= 1200  # lossy codecs add priming samples
    assert audio_info(path)[1] == 22050


def test_resampled_tone_keeps_its_pitch(tmp_path):
    path = write_tone(tmp_path / "tone.wav", frequency_hz=1000.0, sample_rate=44100, duration_seconds=1.0)
    samples, _ = load_audio(path, 16000)
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.fft.rfftfreq(len(samples), 1 / 16000)[spectrum.argmax()] == pytest.approx(1000.0, abs=2.0)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "empty"),
        ("corrupt", "cannot be decoded"),
        ("zero_length", "no samples"),
        ("nan", "NaN or infinite"),
        ("inf", "NaN or infinite"),
        ("unsupported", "cannot be decoded"),
    ],
)
def test_broken_files_name_the_file(tmp_path, kind, message):
    path = write_broken_files(tmp_path)[kind]
    with pytest.raises(AudioError, match=message) as caught:
        load_audio(path)
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "absent.wav")
    with pytest.raises(AudioError, match="does not exist"):
        audio_info(tmp_path / "absent.wav")


def test_waveform_frames_pad_the_end():
    frontend = Waveform(WaveformConfig(frame_samples=4))
    frames = frontend.compute(np.arange(10, dtype=np.float32))
    assert frames.shape == (3, 4)
    assert frames.reshape(-1).tolist() == [*range(10), 0, 0]
