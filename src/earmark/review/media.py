"""The media of a review card: a short audio snippet and a log-mel spectrogram image.

The snippet is the clip's first ``max_seconds`` decoded to mono and transcoded (Ogg Vorbis or
16-bit WAV) with soundfile, so the review folder holds only what the page plays. The
spectrogram is drawn from the frames in the feature store (the very input the model saw) over
the same span, as a bare image whose x axis is time from the snippet's start: the page draws
its own axis labels and a play-head on it.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile

from earmark.features.audio import AudioError, load_audio
from earmark.io import atomic_path

__all__ = ["AudioFormat", "Snippet", "resolve_audio_path", "spectrogram_png", "write_snippet"]

logger = logging.getLogger(__name__)

AudioFormat = Literal["ogg", "wav"]
_SUBTYPE = {"ogg": ("OGG", "VORBIS"), "wav": ("WAV", "PCM_16")}
_MAX_SNIPPET_RATE = 48000


@dataclasses.dataclass(frozen=True)
class Snippet:
    """An audio snippet written for a card: its file name, length and loudness."""

    name: str
    seconds: float
    clip_seconds: float
    peak_dbfs: float


def resolve_audio_path(path: str, audio_root: Path | None) -> Path | None:
    """Where the audio of a manifest path is now, or None when it cannot be found.

    A relative path is taken under ``audio_root``. An absolute path that exists is used as it
    is; one that does not (the collection moved) is looked for under ``audio_root`` by its
    trailing components, the longest match first.
    """
    if not path:
        return None
    candidate = Path(path)
    if not candidate.is_absolute():
        if audio_root is None:
            return candidate if candidate.is_file() else None
        candidate = audio_root / candidate
        return candidate if candidate.is_file() else None
    if candidate.is_file():
        return candidate
    if audio_root is None:
        return None
    parts = candidate.parts[1:]
    for start in range(len(parts)):
        moved = audio_root.joinpath(*parts[start:])
        if moved.is_file():
            return moved
    return None


def write_snippet(
    source: Path, target: Path, *, max_seconds: float = 10.0, audio_format: AudioFormat = "ogg"
) -> Snippet:
    """Transcode the first ``max_seconds`` of ``source`` to ``target`` (mono).

    Raises :class:`~earmark.features.audio.AudioError` naming the file when it cannot be
    decoded.
    """
    samples, rate = load_audio(source)
    clip_seconds = len(samples) / rate
    if rate > _MAX_SNIPPET_RATE:
        samples, rate = load_audio(source, _MAX_SNIPPET_RATE)
    samples = samples[: round(max_seconds * rate)]
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    container, subtype = _SUBTYPE[audio_format]
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(target) as temporary:
            soundfile.write(
                str(temporary), np.clip(samples, -1.0, 1.0), rate, format=container, subtype=subtype
            )
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise AudioError(target, f"cannot be written as {audio_format} ({error})") from error
    return Snippet(
        name=target.name,
        seconds=len(samples) / rate,
        clip_seconds=clip_seconds,
        peak_dbfs=round(20.0 * np.log10(peak), 1) if peak > 0 else float("-inf"),
    )


def spectrogram_png(
    frames: np.ndarray,
    *,
    width_px: int = 720,
    height_px: int = 160,
) -> bytes:
    """A bare image of ``frames`` (num_frames, num_bins): time left to right, low bins at the bottom.

    The colour range runs from the 2nd to the 99.7th percentile of the clip's values, so a quiet
    clip is still visible (the page states its peak level). Needs matplotlib (the ``plots``
    extra); raises :class:`~earmark.plots.PlotsUnavailable` without it.
    """
    from earmark.plots import PlotsUnavailable

    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise PlotsUnavailable("spectrograms need matplotlib: pip install 'earmark[plots]'") from error
    values = np.asarray(frames, dtype=np.float32)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"frames of shape {values.shape}: expected (num_frames > 0, num_bins > 0)")
    low, high = np.percentile(values, [2.0, 99.7])
    if high <= low:
        high = low + 1.0
    dpi = 100
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
        FigureCanvasAgg(figure)
        axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
        axes.imshow(
            values.T,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=float(low),
            vmax=float(high),
            interpolation="bilinear" if values.shape[0] < width_px else "antialiased",
        )
        axes.set_axis_off()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
