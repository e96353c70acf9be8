"""Tagging audio of any length in bounded memory: decode, resample, frame and score in blocks.

:func:`stream_frames` yields the front-end's frames of a file block by block (the same frames
the whole-file front-end computes); :class:`SegmentAggregator` scores segments as they fill and
keeps running aggregates, so an hour of audio never sits in memory at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soundfile
import soxr
import torch
from torch import nn

from earmark.features.audio import AudioError, to_mono
from earmark.features.frontend import Frontend
from earmark.features.logmel import LogMel
from earmark.features.waveform import Waveform
from earmark.inference import Activation, Aggregate, Segmenting, output_probabilities

__all__ = ["SegmentAggregator", "SegmentListener", "decode_blocks", "stream_frames", "tag_file"]

#: Called with each scored batch: first frames ``(n,)``, valid frames ``(n,)``, probabilities
#: ``(n, classes)``.
SegmentListener = Callable[[np.ndarray, np.ndarray, np.ndarray], None]


def decode_blocks(path: str | Path, sample_rate: int, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Mono float32 blocks of ``path`` resampled to ``sample_rate`` (streaming soxr)."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file does not exist")
    try:
        handle = soundfile.SoundFile(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise AudioError(path, f"cannot be decoded ({error})") from error
    with handle:
        source_rate = handle.samplerate
        resampler = None if source_rate == sample_rate else soxr.ResampleStream(source_rate, sample_rate, 1)
        block = max(1, int(block_seconds * source_rate))
        seen = 0
        while True:
            try:
                samples = handle.read(block, dtype="float32", always_2d=True)
            except (RuntimeError, soundfile.LibsndfileError) as error:
                raise AudioError(path, f"cannot be decoded after {seen} samples ({error})") from error
            last = len(samples) < block
            mono = to_mono(samples)
            if not np.isfinite(mono).all():
                raise AudioError(path, "has NaN or infinite samples")
            seen += len(mono)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            if len(mono):
                yield np.ascontiguousarray(mono, dtype=np.float32)
            if last:
                break
        if seen == 0:
            raise AudioError(path, "has no samples (zero-length audio)")


def _logmel_stream(frontend: LogMel, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Centred log-mel frames of a stream: frame k covers padded[k·hop : k·hop + n_fft]."""
    c = frontend.config
    hop, n_fft = c.hop_samples, c.n_fft
    buffer = np.zeros(n_fft // 2, dtype=np.float32)  # the centring zeros before the start
    total = 0
    emitted = 0
    for block in blocks:
        total += len(block)
        buffer = np.concatenate([buffer, block])
        ready = 0 if len(buffer) < n_fft else 1 + (len(buffer) - n_fft) // hop
        if ready:
            yield frontend.frames_of_padded(buffer[: (ready - 1) * hop + n_fft])
            emitted += ready
            buffer = buffer[ready * hop :]
    wanted = frontend.num_frames(total) - emitted
    if wanted > 0:
        tail = np.zeros((wanted - 1) * hop + n_fft, dtype=np.float32)
        tail[: min(len(buffer), len(tail))] = buffer[: len(tail)]
        yield frontend.frames_of_padded(tail)


def _waveform_stream(frontend: Waveform, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    size = frontend.config.frame_samples
    buffer = np.zeros(0, dtype=np.float32)
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        whole = len(buffer) // size
        if whole:
            yield buffer[: whole * size].reshape(whole, size)
            buffer = buffer[whole * size :]
    if len(buffer):
        yield frontend.compute(buffer)


def stream_frames(path: str | Path, frontend: Frontend, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Frames ``(n, dim)`` of ``path`` in blocks; together they equal the whole-file frames."""
    blocks = decode_blocks(path, frontend.config.sample_rate, block_seconds)
    if isinstance(frontend, LogMel):
        yield from _logmel_stream(frontend, blocks)
    elif isinstance(frontend, Waveform):
        yield from _waveform_stream(frontend, blocks)
    elif frontend.precomputed:
        raise ValueError(f"front-end {frontend.name!r} is precomputed; it cannot tag audio files")
    else:  # a front-end without a streaming form: whole file (memory grows with its length)
        yield frontend.compute(np.concatenate(list(blocks)))


class SegmentAggregator:
    """Scores segments of ``segment_frames`` every ``hop_frames`` as frames arrive.

    The segments are those of :func:`earmark.inference.segment_starts`: one every hop while it
    fits, one more ending at the last frame when the hops leave a tail, and a single zero-padded
    segment for a clip shorter than one segment. Only the frames a later segment needs are kept.
    ``on_segments``, when given, receives every scored batch in time order (for a timeline):
    segment starts, valid frames and probabilities ``(segments, classes)`` by ``activation``.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        segment_frames: int,
        hop_frames: int,
        aggregate: Aggregate,
        activation: Activation = "sigmoid",
        device: torch.device | str = "cpu",
        batch_segments: int = 64,
        on_segments: SegmentListener | None = None,
    ) -> None:
        self.model = model.eval()
        self.activation = activation
        self.on_segments = on_segments
        self.segment_frames, self.hop_frames = segment_frames, hop_frames
        self.aggregate, self.device, self.batch_segments = aggregate, device, batch_segments
        self.buffer: np.ndarray | None = None
        self.offset = 0  # absolute index of buffer[0]
        self.total = 0
        self.next_start = 0
        self.covered = 0  # end of the last segment taken
        self.pending: list[np.ndarray] = []
        self.pending_valid: list[int] = []
        self.pending_starts: list[int] = []
        self.count = 0
        self.sum: torch.Tensor | None = None
        self.max: torch.Tensor | None = None

    def add(self, frames: np.ndarray) -> None:
        """Append frames; full segments are cut and scored in batches."""
        self.buffer = frames if self.buffer is None else np.concatenate([self.buffer, frames])
        self.total += len(frames)
        seg = self.segment_frames
        while self.next_start + seg <= self.total:
            local = self.next_start - self.offset
            self.pending.append(self.buffer[local : local + seg])
            self.pending_valid.append(seg)
            self.pending_starts.append(self.next_start)
            self.covered = self.next_start + seg
            self.next_start += self.hop_frames
            if len(self.pending) >= self.batch_segments:
                self._score()
        keep_from = max(0, min(self.next_start, self.total - seg))
        if keep_from > self.offset:
            self.buffer = self.buffer[keep_from - self.offset :]
            self.offset = keep_from

    @torch.inference_mode()
    def _score(self) -> None:
        if not self.pending:
            return
        batch = torch.from_numpy(np.stack(self.pending).astype(np.float32)).to(self.device)
        lengths = torch.tensor(self.pending_valid, dtype=torch.long, device=self.device)
        logits = self.model(batch, lengths).float().cpu()
        probabilities = output_probabilities(logits, self.activation)
        if self.on_segments is not None:
            starts, valid = np.array(self.pending_starts), np.array(self.pending_valid)
            self.on_segments(starts, valid, probabilities.numpy())
        self.pending, self.pending_valid, self.pending_starts = [], [], []
        values = probabilities if self.aggregate == "mean_probability" else logits
        total = values.sum(0)
        self.sum = total if self.sum is None else self.sum + total
        peak = probabilities.max(0).values
        self.max = peak if self.max is None else torch.maximum(self.max, peak)
        self.count += len(logits)

    def result(self) -> np.ndarray:
        """Clip probabilities ``(classes,)`` over every segment added."""
        if self.buffer is None:
            raise ValueError("no frames were added")
        seg = self.segment_frames
        if self.total <= seg:
            padded = np.zeros((seg, self.buffer.shape[1]), dtype=np.float32)
            padded[: self.total] = self.buffer[: self.total]
            self.pending, self.pending_valid, self.pending_starts = [padded], [self.total], [0]
        elif self.covered < self.total:
            self.pending.append(self.buffer[self.total - seg - self.offset :])
            self.pending_valid.append(seg)
            self.pending_starts.append(self.total - seg)
        self._score()
        if self.sum is None or self.max is None:
            raise ValueError("no segment was scored")
        if self.aggregate == "max":
            return self.max.numpy()
        mean = self.sum / self.count
        if self.aggregate == "mean_probability":
            return mean.numpy()
        return output_probabilities(mean, self.activation).numpy()


def tag_file(
    path: str | Path,
    frontend: Frontend,
    model: nn.Module,
    segmenting: Segmenting,
    *,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Clip probabilities ``(classes,)`` of one audio file of any length, in bounded memory.

    Segments are cut and aggregated as ``segmenting`` says; with ``coverage="head"`` only the
    start of the file is decoded and scored.
    """
    if segmenting.coverage == "head":
        head: list[np.ndarray] = []
        collected = 0
        for frames in stream_frames(path, frontend):
            head.append(frames)
            collected += len(frames)
            if collected >= segmenting.segment_frames:
                break
        if not head:
            raise ValueError(f"{path} gave no frames")
        scores: np.ndarray = segmenting.score(model, [np.concatenate(head)], device=device)[0]
        return scores
    aggregator = SegmentAggregator(
        model,
        segment_frames=segmenting.segment_frames,
        hop_frames=segmenting.hop_frames,
        aggregate=segmenting.aggregate,
        activation=segmenting.activation,
        device=device,
    )
    for frames in stream_frames(path, frontend):
        aggregator.add(frames)
    return aggregator.result()
