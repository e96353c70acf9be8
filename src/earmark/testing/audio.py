"""Small audio files made on the fly: tones, and files that are broken in known ways."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

__all__ = ["loudest_excerpt", "write_broken_files", "write_tone"]


def write_tone(
    path: str | Path,
    *,
    frequency_hz: float = 440.0,
    duration_seconds: float = 1.0,
    sample_rate: int = 16000,
    channels: int = 1,
    amplitude: float = 0.3,
    rng: np.random.Generator | None = None,
) -> Path:
    """Write a sine tone (plus a little noise when ``rng`` is given); format from the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(duration_seconds * sample_rate)) / sample_rate
    signal = amplitude * np.sin(2 * np.pi * frequency_hz * t)
    if rng is not None:
        signal = signal + 0.01 * rng.standard_normal(signal.shape)
    samples = np.repeat(signal[:, None], channels, axis=1) if channels > 1 else signal
    soundfile.write(str(path), samples.astype(np.float32), sample_rate)
    return path


def write_broken_files(folder: str | Path) -> dict[str, Path]:
    """Write files that must be refused, keyed by what is wrong with them.

    ``empty`` (0 bytes), ``corrupt`` (random bytes named .wav), ``zero_length`` (a valid WAV
    header with no samples), ``nan`` (float WAV holding NaN), ``inf`` (float WAV holding +inf),
    ``unsupported`` (a text file named .mp4).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "empty": folder / "empty.wav",
        "corrupt": folder / "corrupt.wav",
        "zero_length": folder / "zero_length.wav",
        "nan": folder / "nan.wav",
        "inf": folder / "inf.wav",
        "unsupported": folder / "unsupported.mp4",
    }
    files["empty"].write_bytes(b"")
    files["corrupt"].write_bytes(np.random.default_rng(0).bytes(4096))
    soundfile.write(str(files["zero_length"]), np.zeros(0, dtype=np.float32), 16000)
    bad = np.zeros(1600, dtype=np.float32)
    bad[100] = np.nan
    soundfile.write(str(files["nan"]), bad, 16000, subtype="FLOAT")
    bad[100] = np.inf
    soundfile.write(str(files["inf"]), bad, 16000, subtype="FLOAT")
    files["unsupported"].write_text("this is not audio\n")
    return files


def loudest_excerpt(audio: np.ndarray, samples: int) -> np.ndarray:
    """The ``samples`` consecutive samples with the most energy."""
    if len(audio) <= samples:
        return audio
    energy = np.convolve(audio.astype(np.float64) ** 2, np.ones(samples), mode="valid")
    start = int(np.argmax(energy))
    return audio[start : start + samples]
