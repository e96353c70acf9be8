"""Decoding audio files to mono float32 at a chosen rate (soundfile + soxr).

Every failure is an :class:`AudioError` that names the file and what is wrong with it: a missing
file, a format soundfile cannot read, a file with no samples, or samples that are NaN or infinite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import soxr

from earmark.errors import EarmarkError

__all__ = ["AudioError", "audio_info", "load_audio", "resample", "to_mono"]

#: Suffixes a folder scan treats as audio (anything soundfile's libsndfile decodes).
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif"})


class AudioError(EarmarkError):
    """An audio file cannot be used; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def audio_info(path: str | Path) -> tuple[int, int]:
    """``(num_frames, sample_rate)`` of an audio file without decoding it."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file does not exist")
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise AudioError(path, f"cannot be read as audio ({error})") from error
    return int(info.frames), int(info.samplerate)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of ``(num_samples, channels)`` samples to ``(num_samples,)``."""
    if samples.ndim == 1:
        return samples
    return np.asarray(samples.mean(axis=1, dtype=np.float32))


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample mono ``samples`` from ``source_rate`` to ``target_rate`` Hz (soxr, high quality)."""
    if source_rate == target_rate:
        return samples
    out = soxr.resample(samples, source_rate, target_rate, quality="HQ")
    return np.ascontiguousarray(out, dtype=np.float32)


def load_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode ``path`` to mono float32 ``(num_samples,)``, resampled to ``sample_rate`` if given.

    Returns the samples and their rate in Hz. Raises :class:`AudioError` for a missing file, an
    undecodable or unsupported file, a file with no samples, or NaN / infinite samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    try:
        samples, source_rate = soundfile.read(str(path), dtype="float32", always_2d=False)
    except (RuntimeError, soundfile.LibsndfileError, TypeError) as error:
        raise AudioError(path, f"cannot be decoded ({error})") from error
    samples = to_mono(np.asarray(samples, dtype=np.float32))
    if samples.size == 0:
        raise AudioError(path, "has no samples (zero-length audio)")
    if not np.isfinite(samples).all():
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise AudioError(path, f"has {bad} NaN or infinite samples")
    if sample_rate is not None:
        samples = resample(samples, int(source_rate), sample_rate)
        source_rate = sample_rate
    return np.ascontiguousarray(samples), int(source_rate)
