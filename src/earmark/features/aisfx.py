"""aisfx: its embeddings (512 values per 2.32 s block of 44.1 kHz audio) and its own log-mel input.

aisfx (Ma & Lerch, ISMIR 2022) is a CNN of four double-convolution blocks trained across several
sound-effects libraries; the optional package ``aisfx`` 0.1.2 carries its architecture and weights.
Install it with ``make install-aisfx``, which runs ``pip install --no-deps aisfx==0.1.2 tqdm``:
``--no-deps`` because the package pins old numpy and librosa releases that must not replace the
installed ones (``tqdm`` is the one dependency its modules import).

The model's input is computed here in torch, matching the Essentia pipeline the model was
trained on (checked against Essentia to 2e-5): frames of 2048 samples every 1024 samples (23.2
ms) with the first frame centred on the first sample, a symmetric Hann window, the power
spectrum, 96 mel bands from 0 to 22050 Hz on the HTK scale whose triangles are linear in mels
and sum to one, then ``log10(1e4 * power + 1) / 9.4578`` (the package's normalisation). Blocks
of 100 frames (2.32 s) every ``hop_seconds`` each give one 512-d embedding. The package's own
code is not used for this: its librosa path hands the model a (mels, frames) spectrogram, which
it reads as (frames, mels), so every file silently gets one embedding; its Essentia path needs
Essentia and fails on clips shorter than about 1.2 s; and its weight loading calls
``torch.load`` in a way that recent torch refuses.

The ``aisfx_mel`` front-end stores that spectrogram itself, ``(num_frames, 96)`` at 43.07
frames per second (one per 1024 samples), so that model ``aisfx_cnn`` can fine-tune the
pretrained network end to end on it. It needs no optional package; only the weights do.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from earmark.config import ConfigError, PositiveFloat
from earmark.errors import EarmarkError
from earmark.features.frontend import Frontend, FrontendConfig, SampleRate, register_frontend
from earmark.features.logmel import hz_to_mel

if TYPE_CHECKING:  # torch is imported where it runs: reading a config or the CLI's help needs none
    import torch

__all__ = [
    "Aisfx",
    "AisfxConfig",
    "AisfxMel",
    "AisfxMelConfig",
    "AisfxUnavailableError",
    "aisfx_checkpoint_path",
    "aisfx_log_mel",
    "load_aisfx_weights",
    "num_blocks",
    "num_spectrogram_frames",
    "warped_mel_filterbank",
]

#: The one rate the model was trained at, in Hz.
AISFX_SAMPLE_RATE = 44100
FFT_SAMPLES = 2048
FRAME_HOP_SAMPLES = 1024
NUM_MELS = 96
#: Spectrogram frames per block (2.32 s); one embedding per block.
BLOCK_FRAMES = 100
EMBEDDING_DIM = 512
#: The model was trained on ``log10(1e4 * power + 1)`` divided by this (its largest training value).
LOG_MEL_MAX = 9.457798957824707
INSTALL_COMMAND = "make install-aisfx"
_PACKAGE_VERSION = "0.1.2"


class AisfxUnavailableError(ImportError, EarmarkError):
    """The optional package ``aisfx`` cannot be imported; the message says how to install it."""


@dataclasses.dataclass(frozen=True)
class AisfxConfig(FrontendConfig):
    """aisfx embedding settings.

    Parameters
    ----------
    sample_rate : int
        Must be 44100 Hz, the rate the model was trained at.
    hop_seconds : float
        Hop between the starts of consecutive 2.32 s blocks, in seconds. It is rounded to whole
        spectrogram frames of 1024 samples (23.2 ms) and must lie between one frame and one
        block. The default is 50 frames (1.161 s), half a block, as in the aisfx paper.
    drop_partial_block : bool
        Drop the last block when it would reach past the end of the clip (aisfx's own default).
        By default it is kept, padded with silence, so the whole clip is covered. A clip shorter
        than one block always gives one block.

    """

    sample_rate: SampleRate = AISFX_SAMPLE_RATE
    hop_seconds: PositiveFloat = 1.16
    drop_partial_block: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sample_rate != AISFX_SAMPLE_RATE:
            raise ConfigError(
                f"the aisfx model needs sample_rate {AISFX_SAMPLE_RATE}, got {self.sample_rate}"
            )
        frames = self.hop_seconds * self.sample_rate / FRAME_HOP_SAMPLES  # inf for a huge hop
        if not (math.isfinite(frames) and 1 <= round(frames) <= BLOCK_FRAMES):
            block_seconds = BLOCK_FRAMES * FRAME_HOP_SAMPLES / AISFX_SAMPLE_RATE
            raise ConfigError(
                f"hop_seconds must lie between one frame ({FRAME_HOP_SAMPLES / AISFX_SAMPLE_RATE:.4f} s)"
                f" and one block ({block_seconds:.3f} s), got {self.hop_seconds}"
            )

    @property
    def hop_frames(self) -> int:
        """``hop_seconds`` in whole spectrogram frames."""
        return round(self.hop_seconds * self.sample_rate / FRAME_HOP_SAMPLES)

    @property
    def frames_per_second(self) -> float:
        """Embeddings per second of audio (one per hop)."""
        return self.sample_rate / (self.hop_frames * FRAME_HOP_SAMPLES)


def num_spectrogram_frames(num_samples: int) -> int:
    """Spectrogram frames of a waveform: frame ``k`` is centred on sample ``1024 k``.

    Frames run while they start inside the signal (Essentia's ``FrameCutter``), so there are
    ``1 + ceil(num_samples / 1024)`` of them.
    """
    return 1 + -(-num_samples // FRAME_HOP_SAMPLES)


def num_blocks(num_frames: int, hop_frames: int, *, drop_partial_block: bool = False) -> int:
    """Blocks of :data:`BLOCK_FRAMES` frames every ``hop_frames`` over ``num_frames`` frames.

    At least one (a short spectrogram is padded); a last block reaching past the end counts
    unless ``drop_partial_block``.
    """
    if num_frames <= BLOCK_FRAMES:
        return 1
    beyond = num_frames - BLOCK_FRAMES
    partial = beyond % hop_frames != 0 and not drop_partial_block
    return beyond // hop_frames + 1 + int(partial)


def warped_mel_filterbank(
    *, sample_rate: int, n_fft: int, n_mels: int, fmin_hz: float, fmax_hz: float
) -> np.ndarray:
    """Triangular HTK-mel filters ``(n_mels, n_fft // 2 + 1)``, linear in mels, each summing to 1.

    Essentia's ``MelBands`` with ``weighting="warping"`` and ``normalize="unit_sum"``: unlike
    librosa's filters, the triangles are straight on the mel axis, not the Hz axis.
    """
    bin_mels = hz_to_mel(np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1), "htk")
    edges = np.linspace(hz_to_mel(np.array(fmin_hz), "htk"), hz_to_mel(np.array(fmax_hz), "htk"), n_mels + 2)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_mels[None, :] - lower) / (centre - lower)
    falling = (upper - bin_mels[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    sums = weights.sum(axis=1, keepdims=True)
    return np.asarray(weights / np.where(sums > 0.0, sums, 1.0))


def _spectrogram_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """The filterbank ``(n_fft // 2 + 1, 96)`` and symmetric Hann window ``(n_fft,)`` of the input."""
    import torch

    bank = warped_mel_filterbank(
        sample_rate=AISFX_SAMPLE_RATE,
        n_fft=FFT_SAMPLES,
        n_mels=NUM_MELS,
        fmin_hz=0.0,
        fmax_hz=AISFX_SAMPLE_RATE / 2.0,
    )
    return torch.from_numpy(bank.T.astype(np.float32)), torch.hann_window(FFT_SAMPLES, periodic=False)


def aisfx_log_mel(
    waveform: torch.Tensor, filterbank: torch.Tensor, window: torch.Tensor, *, num_frames: int
) -> torch.Tensor:
    """The model's input ``(num_frames, n_mels)``: time on the first axis, mel bands on the second.

    ``waveform`` is ``(num_samples,)`` at 44.1 kHz, ``filterbank`` ``(n_fft // 2 + 1, n_mels)``,
    ``window`` ``(n_fft,)``. Frame ``k`` is centred on sample ``1024 k``; frames past the end of
    the signal see silence, so asking for more frames than :func:`num_spectrogram_frames`
    pads with silent frames (value 0).
    """
    import torch

    half = FFT_SAMPLES // 2
    padded = torch.zeros((num_frames - 1) * FRAME_HOP_SAMPLES + FFT_SAMPLES, dtype=torch.float32)
    kept = min(len(waveform), len(padded) - half)
    padded[half : half + kept] = waveform[:kept]
    frames = padded.unfold(0, FFT_SAMPLES, FRAME_HOP_SAMPLES)  # (num_frames, n_fft)
    spectrum = torch.fft.rfft(frames * window)
    power = spectrum.real.square() + spectrum.imag.square()
    mel = torch.matmul(power, filterbank)
    return torch.log10(mel * 1e4 + 1.0) / LOG_MEL_MAX


def _checkpoint_numpy_globals() -> list[Any]:
    """The numpy objects the aisfx checkpoint pickles (its task table holds numpy int64 scalars).

    The checkpoint names ``numpy.core.multiarray.scalar``; numpy 2 moved it to ``numpy._core``,
    so it is allowed under its pickled name.
    """
    try:
        multiarray = importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy < 2
        multiarray = importlib.import_module("numpy.core.multiarray")
    return [
        (multiarray.scalar, "numpy.core.multiarray.scalar"),
        np.dtype,
        type(np.dtype(np.int64)),
    ]


def load_aisfx_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The embedding network's weights from the aisfx checkpoint at ``path``.

    The checkpoint is ``(state_dict, task_table)``; only the ``embedding_net.`` entries are
    returned, without that prefix. It is read with ``weights_only=True``, allowing just the
    numpy scalar types of the task table, never arbitrary pickled code.
    """
    import torch

    with torch.serialization.safe_globals(_checkpoint_numpy_globals()):
        content = torch.load(path, map_location="cpu", weights_only=True)
    if not (isinstance(content, tuple) and len(content) == 2 and isinstance(content[0], dict)):
        raise ValueError(f"{path}: not an aisfx checkpoint (expected a (state_dict, tasks) pair)")
    prefix = "embedding_net."
    weights = {k[len(prefix) :]: v for k, v in content[0].items() if k.startswith(prefix)}
    if not weights:
        raise ValueError(f"{path}: the aisfx checkpoint holds no {prefix}* weights")
    return weights


def _import_aisfx(user: str = "the aisfx front-end") -> tuple[type[torch.nn.Module], Path]:
    """The package's embedding-network class and the path of its checkpoint.

    ``user`` names what needs the package, for the error message.
    """
    try:
        package = importlib.import_module("aisfx")
        network = importlib.import_module("aisfx.models.cnn2d")
    except ImportError as error:
        raise AisfxUnavailableError(
            f"{user} needs the optional package aisfx {_PACKAGE_VERSION}, which "
            f"cannot be imported ({error}). Install the optional aisfx group with "
            f"`{INSTALL_COMMAND}`, i.e. `pip install --no-deps aisfx=={_PACKAGE_VERSION} tqdm` "
            "(never without --no-deps: aisfx pins old numpy and librosa releases)"
        ) from error
    checkpoint = Path(str(package.__file__)).parent / "models" / "checkpoint.pth"
    if not checkpoint.is_file():
        raise AisfxUnavailableError(
            f"the aisfx package at {checkpoint.parent.parent} has no model weights "
            f"({checkpoint} is missing); reinstall it with `{INSTALL_COMMAND}`"
        )
    return network.EmbeddingNet, checkpoint


def aisfx_checkpoint_path(user: str) -> Path:
    """The installed aisfx checkpoint; :class:`AisfxUnavailableError` naming ``user`` without it."""
    return _import_aisfx(user)[1]


@register_frontend("aisfx")
class Aisfx(Frontend):
    """aisfx embeddings ``(num_blocks, 512)``, one per 2.32 s block, of 44.1 kHz audio.

    Needs the optional package ``aisfx`` (``make install-aisfx``); constructing the front-end
    without it raises :class:`AisfxUnavailableError`. The model is loaded on first use.

    Parameters
    ----------
    config : AisfxConfig
        The block hop and partial-block policy.
    device : str or torch.device, optional
        Where the model runs; CUDA when available by default. It does not change the features,
        so it is not part of the config (nor of its hash).
    batch_blocks : int
        Blocks passed through the model at once.

    Examples
    --------
    >>> frontend = Aisfx(AisfxConfig())  # doctest: +SKIP
    >>> frontend.compute(np.zeros(10 * 44100, dtype=np.float32)).shape  # doctest: +SKIP
    (8, 512)

    """

    config_class = AisfxConfig
    config: AisfxConfig

    def __init__(
        self, config: AisfxConfig, *, device: str | torch.device | None = None, batch_blocks: int = 32
    ) -> None:
        import torch

        super().__init__(config)
        if batch_blocks <= 0:
            raise ValueError(f"batch_blocks must be positive, got {batch_blocks}")
        self._network_class, self.checkpoint_path = _import_aisfx()
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.batch_blocks = batch_blocks
        self._filterbank, self._window = _spectrogram_tensors()
        self._model: torch.nn.Module | None = None

    @property
    def dim(self) -> int:
        """Values per frame (one frame per block)."""
        return EMBEDDING_DIM

    @property
    def frames_per_second(self) -> float:
        """Blocks per second of audio."""
        return self.config.frames_per_second

    def num_frames(self, num_samples: int) -> int:
        """Embeddings produced for a waveform of ``num_samples`` samples."""
        return num_blocks(
            num_spectrogram_frames(num_samples),
            self.config.hop_frames,
            drop_partial_block=self.config.drop_partial_block,
        )

    @property
    def model(self) -> torch.nn.Module:
        """The pretrained embedding network, loaded once, in eval mode on :attr:`device`."""
        import torch

        if self._model is None:
            # positional: pooling "max", 3x3 kernels, stride 1, 64 channels in the first block
            model = self._network_class("max", 3, 1, 64)
            model.load_state_dict(load_aisfx_weights(self.checkpoint_path), strict=True)
            model.requires_grad_(False)
            model.to(self.device)
            # channels-last convolutions run about 15 % faster on this CPU, same results to 1e-5
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # not in the stubs
            self._model = model.eval()
        return self._model

    def blocks(self, waveform: np.ndarray) -> torch.Tensor:
        """The model's input ``(num_blocks, 100, 96)``: blocks of (frames, mel bands).

        ``waveform`` is mono ``(num_samples,)`` float at 44.1 kHz.
        """
        import torch

        samples = np.asarray(waveform, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"aisfx needs a mono waveform (num_samples,), got shape {samples.shape}")
        if not np.isfinite(samples).all():
            raise ValueError("aisfx input holds NaN or infinite samples")
        count = self.num_frames(len(samples))
        hop = self.config.hop_frames
        spectrogram = aisfx_log_mel(
            torch.from_numpy(samples),
            self._filterbank,
            self._window,
            num_frames=(count - 1) * hop + BLOCK_FRAMES,
        )
        # unfold over time gives (blocks, mels, frames); the model reads (frames, mels)
        return spectrogram.unfold(0, BLOCK_FRAMES, hop).transpose(1, 2)

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Embeddings ``(num_blocks, 512)`` float32 of one mono waveform ``(num_samples,)``."""
        return self.compute_batch([waveform])[0]

    def compute_batch(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Embeddings of several waveforms, their blocks passed through the model together."""
        import torch

        if not waveforms:
            return []
        with torch.inference_mode():
            blocks = [self.blocks(w) for w in waveforms]
            everything = torch.cat(blocks)
            outputs = [
                self.model(everything[start : start + self.batch_blocks].to(self.device)).cpu()
                for start in range(0, len(everything), self.batch_blocks)
            ]
            embeddings = torch.cat(outputs).numpy().astype(np.float32, copy=False)
        counts = np.cumsum([len(b) for b in blocks])[:-1]
        return list(np.split(embeddings, counts))

    @property
    def block_seconds(self) -> float:
        """Duration one embedding sees, in seconds (2.32 s)."""
        return BLOCK_FRAMES * FRAME_HOP_SAMPLES / self.config.sample_rate


@dataclasses.dataclass(frozen=True)
class AisfxMelConfig(FrontendConfig):
    """Settings of ``aisfx_mel``: none to choose, the input is fixed by the pretrained model.

    Parameters
    ----------
    sample_rate : int
        Must be 44100 Hz, the rate the aisfx model was trained at.

    """

    sample_rate: int = AISFX_SAMPLE_RATE

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sample_rate != AISFX_SAMPLE_RATE:
            raise ConfigError(
                f"the aisfx_mel front-end needs sample_rate {AISFX_SAMPLE_RATE} (aisfx's input), "
                f"got {self.sample_rate}"
            )

    @property
    def frames_per_second(self) -> float:
        """Spectrogram frames per second of audio: one per 1024 samples, 43.07 at 44.1 kHz."""
        return self.sample_rate / FRAME_HOP_SAMPLES


@register_frontend("aisfx_mel")
class AisfxMel(Frontend):
    """aisfx's own model input ``(num_frames, 96)``: the normalised log-mel, one frame per 23.2 ms.

    The same spectrogram the ``aisfx`` front-end cuts into blocks of 100 frames
    (:func:`aisfx_log_mel`), stored whole, so a model can fine-tune the pretrained network on it
    (model ``aisfx_cnn``). Values are ``log10(1e4 * power + 1) / 9.4578``: 0 is digital silence,
    so zero padding means silence here, as it does for the pretrained network. Needs no
    optional package (only the model's weights do).

    Examples
    --------
    >>> frontend = AisfxMel(AisfxMelConfig())
    >>> frontend.compute(np.zeros(44100, dtype=np.float32)).shape
    (45, 96)

    """

    config_class = AisfxMelConfig
    config: AisfxMelConfig

    def __init__(self, config: AisfxMelConfig) -> None:
        super().__init__(config)
        self._filterbank, self._window = _spectrogram_tensors()

    @property
    def dim(self) -> int:
        """Mel bands per frame (96)."""
        return NUM_MELS

    @property
    def frames_per_second(self) -> float:
        """Frames per second of audio (43.07)."""
        return self.config.frames_per_second

    def num_frames(self, num_samples: int) -> int:
        """Frames of a waveform of ``num_samples`` samples (:func:`num_spectrogram_frames`)."""
        return num_spectrogram_frames(num_samples)

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Log-mel frames ``(num_frames, 96)`` float32 of a mono 44.1 kHz waveform ``(num_samples,)``."""
        import torch

        samples = np.asarray(waveform, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"aisfx_mel needs a mono waveform (num_samples,), got shape {samples.shape}")
        if not np.isfinite(samples).all():
            raise ValueError("aisfx_mel input holds NaN or infinite samples")
        with torch.inference_mode():
            spectrogram = aisfx_log_mel(
                torch.from_numpy(samples),
                self._filterbank,
                self._window,
                num_frames=num_spectrogram_frames(len(samples)),
            )
        return spectrogram.numpy().astype(np.float32, copy=False)
