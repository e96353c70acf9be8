"""Log-mel spectrograms in torch, with our own mel filterbank (Slaney and HTK scales).

The filterbank and the STFT follow the conventions of librosa (periodic Hann window, centred
frames with zero padding, power spectrum, Slaney area normalisation), so features match
``librosa.feature.melspectrogram`` with the same parameters; the tests check it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np

from earmark.config import ConfigError, NonNegativeFloat, PositiveFloat, PositiveInt, Range
from earmark.features.frontend import Frontend, FrontendConfig, register_frontend

if TYPE_CHECKING:  # torch is imported where it runs: reading a config or the CLI's help needs none
    import torch

__all__ = ["LogMel", "LogMelConfig", "hz_to_mel", "mel_filterbank", "mel_to_hz"]

MelScale = Literal["slaney", "htk"]

# Slaney's auditory toolbox scale: linear below 1 kHz, logarithmic above.
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_BREAK_MEL = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = math.log(6.4) / 27.0
_CHUNK_FRAMES = 256  # frames per FFT pass: about 1 MiB of input, cache-friendly


def hz_to_mel(hz: np.ndarray, scale: MelScale = "slaney") -> np.ndarray:
    """Frequencies in Hz to mels on the Slaney or HTK scale."""
    hz = np.asarray(hz, dtype=np.float64)
    if scale == "htk":
        return np.asarray(2595.0 * np.log10(1.0 + hz / 700.0))
    linear = hz / _SLANEY_HZ_PER_MEL
    above = hz >= _SLANEY_BREAK_HZ
    safe = np.where(above, hz, _SLANEY_BREAK_HZ)
    logarithmic = _SLANEY_BREAK_MEL + np.log(safe / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
    return np.asarray(np.where(above, logarithmic, linear))


def mel_to_hz(mel: np.ndarray, scale: MelScale = "slaney") -> np.ndarray:
    """Mels on the Slaney or HTK scale to frequencies in Hz."""
    mel = np.asarray(mel, dtype=np.float64)
    if scale == "htk":
        return np.asarray(700.0 * (10.0 ** (mel / 2595.0) - 1.0))
    linear = mel * _SLANEY_HZ_PER_MEL
    logarithmic = _SLANEY_BREAK_HZ * np.exp(_SLANEY_LOG_STEP * (mel - _SLANEY_BREAK_MEL))
    return np.asarray(np.where(mel >= _SLANEY_BREAK_MEL, logarithmic, linear))


def mel_filterbank(
    *,
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    fmin_hz: float = 0.0,
    fmax_hz: float | None = None,
    scale: MelScale = "slaney",
    normalize: bool = True,
) -> np.ndarray:
    """Triangular mel filters ``(n_mels, n_fft // 2 + 1)`` over the FFT bins.

    With ``normalize`` each filter is divided by its width in Hz (Slaney's "area" norm), so
    every filter has roughly constant energy.
    """
    fmax_hz = sample_rate / 2.0 if fmax_hz is None else fmax_hz
    fft_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    mel_edges = np.linspace(
        hz_to_mel(np.array(fmin_hz), scale), hz_to_mel(np.array(fmax_hz), scale), n_mels + 2
    )
    edges_hz = mel_to_hz(mel_edges, scale)
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if normalize:
        weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights


@dataclasses.dataclass(frozen=True)
class LogMelConfig(FrontendConfig):
    """Log-mel parameters; sizes in samples, frequencies in Hz.

    Attributes
    ----------
    n_fft : FFT size in samples.
    window_samples : Hann window length in samples (at most ``n_fft``; centred in the FFT frame).
    hop_samples : samples between the starts of consecutive frames (320 at 16 kHz: 50 frames/s).
    n_mels : mel bands, the values per frame.
    fmin_hz : lowest frequency of the mel filterbank, in Hz.
    fmax_hz : highest frequency of the mel filterbank, in Hz (null: half the sample rate).
    mel_scale : ``slaney`` (linear below 1 kHz, logarithmic above) or ``htk``.
    slaney_norm : normalise each mel filter to unit area (librosa's ``norm="slaney"``).
    power : exponent of the magnitude spectrum (2: power, 1: magnitude).
    log_offset : added to the mel power before the logarithm (keeps silence finite).

    """

    n_fft: Annotated[int, Range(ge=16, le=65_536)] = 1024
    window_samples: PositiveInt = 1024
    hop_samples: Annotated[int, Range(gt=0, le=65_536)] = 320
    n_mels: PositiveInt = 64
    fmin_hz: NonNegativeFloat = 50.0
    fmax_hz: PositiveFloat | None = 8000.0
    mel_scale: MelScale = "slaney"
    slaney_norm: bool = True
    power: Annotated[float, Range(gt=0, le=4)] = 2.0
    log_offset: Annotated[float, Range(gt=0, le=1)] = 1e-6

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window_samples > self.n_fft:
            raise ConfigError(f"window_samples ({self.window_samples}) exceeds n_fft ({self.n_fft})")
        if self.n_mels > self.n_fft // 2 + 1:
            raise ConfigError(
                f"n_mels ({self.n_mels}) exceeds the {self.n_fft // 2 + 1} frequency bins of n_fft "
                f"{self.n_fft}; lower n_mels or raise n_fft"
            )
        top = self.sample_rate / 2.0 if self.fmax_hz is None else self.fmax_hz
        if not 0.0 <= self.fmin_hz < top <= self.sample_rate / 2.0:
            raise ConfigError(f"need 0 <= fmin_hz < fmax_hz <= sample_rate / 2, got {self.fmin_hz}, {top}")
        if self.log_offset <= 0:
            raise ConfigError(f"log_offset must be positive, got {self.log_offset}")


@register_frontend("logmel")
class LogMel(Frontend):
    """``log(mel power + log_offset)`` frames of shape ``(num_frames, n_mels)``."""

    config_class = LogMelConfig
    config: LogMelConfig

    def __init__(self, config: LogMelConfig) -> None:
        import torch

        super().__init__(config)
        c = config
        bank = mel_filterbank(
            sample_rate=c.sample_rate,
            n_fft=c.n_fft,
            n_mels=c.n_mels,
            fmin_hz=c.fmin_hz,
            fmax_hz=c.fmax_hz,
            scale=c.mel_scale,
            normalize=c.slaney_norm,
        )
        self._filterbank = torch.from_numpy(bank.T.astype(np.float32))  # (bins, n_mels)
        self._window = torch.hann_window(c.window_samples, periodic=True)
        left = (c.n_fft - c.window_samples) // 2  # a shorter window sits centred in the FFT frame
        self._fft_window = torch.zeros(c.n_fft)
        self._fft_window[left : left + c.window_samples] = self._window

    @property
    def dim(self) -> int:
        """Values per frame."""
        return self.config.n_mels

    @property
    def frames_per_second(self) -> float:
        """Frames per second of audio."""
        return self.config.sample_rate / self.config.hop_samples

    def num_frames(self, num_samples: int) -> int:
        """Centred frames: one per hop, plus one."""
        return 1 + num_samples // self.config.hop_samples

    def mel_power(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Mel power ``(batch, num_frames, n_mels)`` of equal-length waveforms ``(batch, samples)``."""
        import torch

        c = self.config
        spectrum = torch.stft(
            waveforms,
            n_fft=c.n_fft,
            hop_length=c.hop_samples,
            win_length=c.window_samples,
            window=self._window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return torch.matmul(self._power(spectrum).transpose(1, 2), self._filterbank)

    def _power(self, spectrum: torch.Tensor) -> torch.Tensor:
        power = (spectrum * spectrum.conj()).real  # |X|², without a square root
        return power if self.config.power == 2.0 else power.pow(self.config.power / 2.0)

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Frames ``(num_frames, dim)`` of one mono waveform ``(num_samples,)``."""
        return self.compute_batch([waveform])[0]

    def compute_batch(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Log-mel frames of each waveform, computed in one pass without padding to a common length.

        The waveforms are laid end to end, each in a block of whole hops that holds its centring
        zeros, so one framing of the long signal gives every clip's frames (plus a few frames
        between blocks that are dropped): no work is spent on padding short clips to the
        longest one.
        """
        if not waveforms:
            return []
        c = self.config
        hop, half = c.hop_samples, c.n_fft // 2
        extra_frames = -(-c.n_fft // hop)  # frames of hop that cover one n_fft window
        counts = [self.num_frames(len(w)) for w in waveforms]
        block_frames = [n - 1 + extra_frames for n in counts]
        signal = np.zeros(sum(block_frames) * hop, dtype=np.float32)
        starts = np.concatenate([[0], np.cumsum(block_frames)[:-1]]).astype(np.int64)
        for start, waveform in zip(starts.tolist(), waveforms, strict=True):
            signal[start * hop + half : start * hop + half + len(waveform)] = waveform
        logmel = self.frames_of_padded(signal)
        return [logmel[s : s + n] for s, n in zip(starts.tolist(), counts, strict=True)]

    def frames_of_padded(self, signal: np.ndarray) -> np.ndarray:
        """Log-mel of every frame ``signal[k·hop : k·hop + n_fft]`` (no padding added here).

        ``signal`` already holds whatever centring zeros the caller wants; streaming callers
        feed consecutive pieces of the padded signal. Frames are transformed in chunks small
        enough to stay in cache, which is faster than one pass over all frames.
        """
        import torch

        c = self.config
        with torch.inference_mode():
            source = torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32))
            frames = source.unfold(0, c.n_fft, c.hop_samples)  # (total_frames, n_fft), a view
            out = torch.empty(frames.shape[0], c.n_mels)
            for start in range(0, frames.shape[0], _CHUNK_FRAMES):
                spectrum = torch.fft.rfft(frames[start : start + _CHUNK_FRAMES] * self._fft_window)
                torch.matmul(self._power(spectrum), self._filterbank, out=out[start : start + _CHUNK_FRAMES])
            return out.add_(c.log_offset).log_().numpy()
