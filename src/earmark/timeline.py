"""When each tag occurs: segment scores over time for audio of any length, in one streaming pass.

:func:`scan_frames` cuts frames into a run's segments (every hop, the whole file, whatever the
run's coverage) and scores them with one or several models as the frames arrive; each
segment's probabilities (averaged over the models) go to a callback with the segment's start
and end in seconds, and the clip scores of each model come back at the end. A
:class:`Timeline` holds a whole file's segments in memory for a notebook; the ``predict``
command writes them row by row instead. Events come from :mod:`earmark.events`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from earmark.events import Cell, Event, find_events, segment_cells
from earmark.inference import Segmenting
from earmark.streaming import SegmentAggregator

__all__ = ["SegmentCallback", "Timeline", "plot_timeline", "scan_frames"]

#: Called with each segment in time order: start and end in seconds, probabilities ``(classes,)``.
SegmentCallback = Callable[[float, float, np.ndarray], None]


@dataclasses.dataclass(frozen=True)
class Timeline:
    """Segment scores of one file over time.

    Attributes
    ----------
    classes
        The class names, the column order of ``scores``.
    start_seconds, end_seconds
        ``(segments,)`` span of each segment in seconds (segments overlap when the hop is
        shorter than a segment).
    scores
        ``(segments, classes)`` probabilities.
    duration_seconds
        Length of the file (its frames times the frame period).

    """

    classes: tuple[str, ...]
    start_seconds: np.ndarray
    end_seconds: np.ndarray
    scores: np.ndarray
    duration_seconds: float

    def cells(self) -> list[Cell]:
        """Non-overlapping spans the segments stand for (see :mod:`earmark.events`)."""
        return segment_cells(self.start_seconds, self.end_seconds, self.scores, self.duration_seconds)

    def events(
        self,
        thresholds: float | np.ndarray = 0.5,
        *,
        min_duration_seconds: float = 0.0,
        min_gap_seconds: float = 0.0,
    ) -> list[Event]:
        """Thresholded, merged events in onset order (see :class:`earmark.events.EventTracker`)."""
        return find_events(
            self.cells(),
            self.classes,
            thresholds,
            min_duration_seconds=min_duration_seconds,
            min_gap_seconds=min_gap_seconds,
        )


class _Lockstep:
    """Averages the segment probabilities of several models, emitted batch by batch in order."""

    def __init__(self, num_models: int, frames_per_second: float, callback: SegmentCallback | None) -> None:
        self.queues: list[list[tuple[int, int, np.ndarray]]] = [[] for _ in range(num_models)]
        self.frames_per_second = frames_per_second
        self.callback = callback

    def listener(self, index: int) -> Callable[[np.ndarray, np.ndarray, np.ndarray], None]:
        def listen(starts: np.ndarray, valid: np.ndarray, probabilities: np.ndarray) -> None:
            self.queues[index].extend(zip(starts.tolist(), valid.tolist(), probabilities, strict=True))

        return listen

    def drain(self) -> None:
        ready = min(len(queue) for queue in self.queues)
        for row in range(ready):
            start, valid, _ = self.queues[0][row]
            mean = np.mean([queue[row][2] for queue in self.queues], axis=0).astype(np.float32)
            if self.callback is not None:
                rate = self.frames_per_second
                self.callback(start / rate, (start + valid) / rate, mean)
        for queue in self.queues:
            del queue[:ready]


def scan_frames(
    frames: Iterable[np.ndarray],
    scorers: Sequence[tuple[nn.Module, Segmenting]],
    *,
    frames_per_second: float,
    on_segment: SegmentCallback | None = None,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, float]:
    """Score every segment of a stream of frames with each model.

    Parameters
    ----------
    frames
        Blocks of frames ``(n, dim)`` in time order (e.g. :func:`earmark.streaming.stream_frames`).
    scorers
        One or more models that take these frames, each with its run's segmenting; they must
        cut segments alike (segment and hop lengths). The whole stream is covered, whatever
        the coverage.
    frames_per_second
        The front-end's frame rate, to turn frames into seconds.
    on_segment
        Receives each segment's start and end (seconds) and its probabilities ``(classes,)``
        averaged over the models, in time order, as soon as every model has scored it.
    device
        Where the models run.

    Returns
    -------
    clip_scores, duration_seconds
        ``(models, classes)`` clip probabilities, each aggregated as its segmenting says over
        the whole stream, and the stream's length in seconds.

    """
    if not scorers:
        raise ValueError("scan_frames needs at least one model")
    first = scorers[0][1]
    for index, (_, other) in enumerate(scorers[1:], start=2):
        if (other.segment_frames, other.hop_frames) != (first.segment_frames, first.hop_frames):
            raise ValueError(
                f"run {index} cuts {other.segment_frames}-frame segments every {other.hop_frames} frames, "
                f"run 1 {first.segment_frames} every {first.hop_frames}: a timeline of several runs "
                "needs one segmenting"
            )
    lockstep = _Lockstep(len(scorers), frames_per_second, on_segment)
    aggregators = [
        SegmentAggregator(
            model,
            segment_frames=segmenting.segment_frames,
            hop_frames=segmenting.hop_frames,
            aggregate=segmenting.aggregate,
            activation=segmenting.activation,
            device=device,
            on_segments=lockstep.listener(i),
        )
        for i, (model, segmenting) in enumerate(scorers)
    ]
    for block in frames:
        for aggregator in aggregators:
            aggregator.add(block)
        lockstep.drain()
    clip_scores = np.stack([aggregator.result() for aggregator in aggregators])
    lockstep.drain()
    return clip_scores, aggregators[0].total / frames_per_second


def plot_timeline(
    timeline: Timeline,
    path: str | Path,
    *,
    events: Sequence[Event] = (),
    max_classes: int = 20,
    title: str = "",
) -> Path:
    """Draw the timeline as a class × time heat map (events outlined) into a PNG file.

    The ``max_classes`` classes with the highest peak score are drawn, highest first.
    Needs matplotlib (the ``plots`` extra).
    """
    from earmark.io import write_bytes_atomic
    from earmark.plots import agg_figure, png_bytes

    cells = timeline.cells()
    peak = timeline.scores.max(axis=0) if len(cells) else np.zeros(len(timeline.classes))
    shown = np.argsort(-peak, kind="stable")[:max_classes]
    edges = np.array([cells[0].start_seconds] + [c.end_seconds for c in cells])
    grid = np.stack([c.scores for c in cells], axis=1)[shown]
    names = [timeline.classes[k] for k in shown.tolist()]
    with agg_figure(10.0, 1.2 + 0.28 * len(names)) as figure:
        axes = figure.add_subplot(1, 1, 1)
        image = axes.pcolormesh(edges, np.arange(len(names) + 1), grid, vmin=0.0, vmax=1.0, cmap="viridis")
        for event in events:
            if event.label in names:
                row = names.index(event.label)
                axes.plot(
                    [event.onset_seconds, event.offset_seconds, event.offset_seconds, event.onset_seconds],
                    [row + 0.1, row + 0.1, row + 0.9, row + 0.9],
                    color="white",
                    linewidth=1.2,
                )
        axes.set_yticks(np.arange(len(names)) + 0.5, labels=names)
        axes.invert_yaxis()
        axes.set_xlabel("time (s)")
        if title:
            axes.set_title(title)
        figure.colorbar(image, ax=axes, label="probability")
        data = png_bytes(figure)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data)
    return path
