"""Sound events from a timeline of segment scores: thresholded, merged, in one streaming pass.

A run scores overlapping segments (``segment`` frames every ``hop`` frames). For events, every
instant belongs to the segment whose centre is nearest, so the segments tile the file without
overlap: a segment's *cell* runs from the midpoint between its centre and the previous
segment's centre to the midpoint with the next (the first cell starts at 0, the last ends at
the end of the file). A class is active over a cell when its score is at or above its
threshold; active cells make events, events closer than ``min_gap_seconds`` are merged, and
events shorter than ``min_duration_seconds`` are dropped.

Everything here is pure and streaming: :class:`CellTiler` and :class:`EventTracker` keep one
segment and one open event per class, so an hour of audio never sits in memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["Cell", "CellTiler", "Event", "EventTracker", "find_events", "segment_cells"]


@dataclasses.dataclass(frozen=True)
class Event:
    """One class present from ``onset_seconds`` to ``offset_seconds``.

    ``peak_score`` is the highest segment score of the class inside the event.
    """

    label: str
    onset_seconds: float
    offset_seconds: float
    peak_score: float

    @property
    def duration_seconds(self) -> float:
        """Offset minus onset, in seconds."""
        return self.offset_seconds - self.onset_seconds


@dataclasses.dataclass(frozen=True)
class Cell:
    """The span ``[start_seconds, end_seconds)`` a segment's ``scores`` ``(classes,)`` stand for."""

    start_seconds: float
    end_seconds: float
    scores: np.ndarray


class CellTiler:
    """Turns segments in time order into non-overlapping cells (one segment of delay).

    Feed :meth:`add` each segment's span and scores, then :meth:`finish` with the file's
    duration; each returns the cells that became complete.
    """

    def __init__(self) -> None:
        self._previous: tuple[float, float, np.ndarray] | None = None
        self._cell_start = 0.0

    def add(self, start_seconds: float, end_seconds: float, scores: np.ndarray) -> list[Cell]:
        """Add one segment ``[start_seconds, end_seconds)``; returns the previous segment's cell."""
        if end_seconds <= start_seconds:
            raise ValueError(f"a segment must end after it starts, got [{start_seconds}, {end_seconds})")
        cells = []
        if self._previous is not None:
            before_start, before_end, before_scores = self._previous
            if start_seconds < before_start:
                raise ValueError(f"segments must come in time order: {start_seconds} after {before_start}")
            boundary = (before_start + before_end + start_seconds + end_seconds) / 4
            boundary = max(boundary, self._cell_start)
            cells.append(Cell(self._cell_start, boundary, before_scores))
            self._cell_start = boundary
        self._previous = (start_seconds, end_seconds, np.asarray(scores, dtype=np.float32))
        return cells

    def finish(self, duration_seconds: float) -> list[Cell]:
        """The last segment's cell, ending at ``duration_seconds`` (or at its segment's end)."""
        if self._previous is None:
            return []
        _, end, scores = self._previous
        self._previous = None
        return [Cell(self._cell_start, max(self._cell_start, min(end, duration_seconds)), scores)]


def segment_cells(
    start_seconds: np.ndarray, end_seconds: np.ndarray, scores: np.ndarray, duration_seconds: float
) -> list[Cell]:
    """The cells of a whole timeline: ``(segments,)`` spans and ``(segments, classes)`` scores."""
    tiler = CellTiler()
    cells: list[Cell] = []
    for start, end, row in zip(start_seconds.tolist(), end_seconds.tolist(), scores, strict=True):
        cells.extend(tiler.add(start, end, row))
    cells.extend(tiler.finish(duration_seconds))
    return cells


class EventTracker:
    """Merged events per class from cells in time order, in bounded memory.

    Parameters
    ----------
    class_names
        ``(classes,)`` names, the order of every ``scores`` row.
    thresholds
        A probability for every class, or ``(classes,)`` per class; a class is active where its
        score is ``>=`` its threshold.
    min_duration_seconds
        Events shorter than this (after merging) are dropped.
    min_gap_seconds
        Two events of a class separated by at most this become one (touching cells always do).

    """

    def __init__(
        self,
        class_names: Sequence[str],
        thresholds: float | np.ndarray,
        *,
        min_duration_seconds: float = 0.0,
        min_gap_seconds: float = 0.0,
    ) -> None:
        if min_duration_seconds < 0 or min_gap_seconds < 0:
            raise ValueError(
                f"min_duration_seconds ({min_duration_seconds}) and min_gap_seconds "
                f"({min_gap_seconds}) must be >= 0"
            )
        self.class_names = tuple(class_names)
        limits = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (len(self.class_names),))
        if not np.isfinite(limits).all():
            raise ValueError("thresholds must be finite")
        self.thresholds = limits.copy()
        self.min_duration_seconds = min_duration_seconds
        self.min_gap_seconds = min_gap_seconds
        # per class: the open event's onset, offset and peak (NaN onset = none open)
        self._onset = np.full(len(self.class_names), np.nan)
        self._offset = np.zeros(len(self.class_names))
        self._peak = np.zeros(len(self.class_names))

    def add(self, cell: Cell) -> list[Event]:
        """Add one cell; returns the events that closed before it (in onset order)."""
        scores = np.asarray(cell.scores, dtype=np.float64)
        if scores.shape != self.thresholds.shape:
            raise ValueError(f"a cell has {scores.shape[0]} scores for {len(self.class_names)} classes")
        closed: list[Event] = []
        active = scores >= self.thresholds
        is_open = ~np.isnan(self._onset)
        # an open event ends when an active cell starts more than min_gap_seconds after it, or
        # when an inactive cell takes the gap after it beyond min_gap_seconds
        reach = np.where(active, cell.start_seconds, cell.end_seconds)
        ending = is_open & (reach - self._offset > self.min_gap_seconds)
        for k in np.flatnonzero(ending).tolist():
            closed.extend(self._close(k))
        starting = active & np.isnan(self._onset)
        self._onset[starting] = cell.start_seconds
        self._peak[starting] = scores[starting]
        self._offset[active] = cell.end_seconds
        self._peak[active] = np.maximum(self._peak[active], scores[active])
        return sorted(closed, key=lambda e: (e.onset_seconds, e.label))

    def finish(self) -> list[Event]:
        """Close every open event; returns those long enough (in onset order)."""
        closed: list[Event] = []
        for k in np.flatnonzero(~np.isnan(self._onset)).tolist():
            closed.extend(self._close(k))
        return sorted(closed, key=lambda e: (e.onset_seconds, e.label))

    def _close(self, k: int) -> list[Event]:
        onset, offset, peak = float(self._onset[k]), float(self._offset[k]), float(self._peak[k])
        self._onset[k] = np.nan
        if offset - onset < self.min_duration_seconds:
            return []
        return [Event(self.class_names[k], onset, offset, peak)]


def find_events(
    cells: Iterable[Cell],
    class_names: Sequence[str],
    thresholds: float | np.ndarray,
    *,
    min_duration_seconds: float = 0.0,
    min_gap_seconds: float = 0.0,
) -> list[Event]:
    """Every event of ``cells`` (see :class:`EventTracker`), in onset order.

    Examples
    --------
    >>> cells = [Cell(0.0, 1.0, np.array([0.9])), Cell(1.0, 2.0, np.array([0.1])),
    ...          Cell(2.0, 3.0, np.array([0.8]))]
    >>> [(e.onset_seconds, e.offset_seconds) for e in find_events(cells, ["dog"], 0.5)]
    [(0.0, 1.0), (2.0, 3.0)]
    >>> [(e.onset_seconds, e.offset_seconds) for e in find_events(cells, ["dog"], 0.5, min_gap_seconds=1.5)]
    [(0.0, 3.0)]

    """
    tracker = EventTracker(
        class_names, thresholds, min_duration_seconds=min_duration_seconds, min_gap_seconds=min_gap_seconds
    )
    events: list[Event] = []
    for cell in cells:
        events.extend(tracker.add(cell))
    events.extend(tracker.finish())
    return sorted(events, key=lambda e: (e.onset_seconds, e.label))
