"""Events from segment scores: cells tile the file, thresholds, merging gaps, minimum durations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from earmark.events import Cell, CellTiler, EventTracker, find_events, segment_cells


def test_cells_split_overlapping_segments_at_the_midpoints_of_their_centres():
    starts = np.array([0.0, 0.5, 1.0, 1.2])  # the last one ends at the end of the file
    ends = starts + 1.0
    cells = segment_cells(starts, ends, np.eye(4), duration_seconds=2.2)
    spans = [(c.start_seconds, c.end_seconds) for c in cells]
    # centres 0.5, 1.0, 1.5, 1.7: boundaries 0.75, 1.25, 1.6; first starts at 0, last ends at 2.2
    np.testing.assert_allclose(spans, [(0.0, 0.75), (0.75, 1.25), (1.25, 1.6), (1.6, 2.2)])
    np.testing.assert_array_equal(np.stack([c.scores for c in cells]), np.eye(4))


def test_a_single_padded_segment_covers_the_short_file():
    cells = segment_cells(np.array([0.0]), np.array([0.3]), np.ones((1, 2)), duration_seconds=0.3)
    assert [(c.start_seconds, c.end_seconds) for c in cells] == [(0.0, 0.3)]


def test_segments_out_of_order_or_empty_raise():
    tiler = CellTiler()
    tiler.add(1.0, 2.0, np.zeros(1))
    with pytest.raises(ValueError, match="time order"):
        tiler.add(0.5, 1.5, np.zeros(1))
    with pytest.raises(ValueError, match="end after it starts"):
        CellTiler().add(1.0, 1.0, np.zeros(1))


def cells_of(scores: list[list[float]], width: float = 1.0) -> list[Cell]:
    return [Cell(i * width, (i + 1) * width, np.array(row)) for i, row in enumerate(scores)]


def test_events_per_class_with_per_class_thresholds():
    cells = cells_of([[0.9, 0.2], [0.8, 0.35], [0.1, 0.4], [0.7, 0.1]])
    events = find_events(cells, ["dog", "rain"], np.array([0.5, 0.3]))
    assert [(e.label, e.onset_seconds, e.offset_seconds) for e in events] == [
        ("dog", 0.0, 2.0),
        ("rain", 1.0, 3.0),
        ("dog", 3.0, 4.0),
    ]
    assert events[0].peak_score == pytest.approx(0.9)
    assert events[1].peak_score == pytest.approx(0.4)


def test_gaps_up_to_min_gap_merge_and_short_events_are_dropped():
    cells = cells_of([[0.9], [0.1], [0.1], [0.9], [0.1], [0.1], [0.1], [0.6]], width=0.5)
    spans = [(e.onset_seconds, e.offset_seconds) for e in find_events(cells, ["x"], 0.5)]
    assert spans == [(0.0, 0.5), (1.5, 2.0), (3.5, 4.0)]
    merged = find_events(cells, ["x"], 0.5, min_gap_seconds=1.0)
    assert [(e.onset_seconds, e.offset_seconds) for e in merged] == [(0.0, 2.0), (3.5, 4.0)]
    long_only = find_events(cells, ["x"], 0.5, min_gap_seconds=1.0, min_duration_seconds=1.0)
    assert [(e.onset_seconds, e.offset_seconds) for e in long_only] == [(0.0, 2.0)]


def test_streaming_tracker_equals_the_whole_timeline(rng):
    scores = rng.random((200, 3))
    cells = cells_of(scores.tolist(), width=0.25)
    whole = find_events(cells, ["a", "b", "c"], 0.6, min_gap_seconds=0.3, min_duration_seconds=0.5)
    tracker = EventTracker(["a", "b", "c"], 0.6, min_gap_seconds=0.3, min_duration_seconds=0.5)
    streamed = [event for cell in cells for event in tracker.add(cell)] + tracker.finish()
    assert sorted(streamed, key=lambda e: (e.onset_seconds, e.label)) == whole
    assert all(e.duration_seconds >= 0.5 for e in whole)
    for label in "abc":  # events of one class never overlap, and are more than the gap apart
        own = [e for e in whole if e.label == label]
        assert all(b.onset_seconds - a.offset_seconds > 0.3 for a, b in itertools.pairwise(own))


def test_bad_options_raise():
    with pytest.raises(ValueError, match="must be >= 0"):
        EventTracker(["a"], 0.5, min_gap_seconds=-1.0)
    with pytest.raises(ValueError, match="finite"):
        EventTracker(["a"], np.nan)
    with pytest.raises(ValueError, match="2 scores for 1 classes"):
        EventTracker(["a"], 0.5).add(Cell(0.0, 1.0, np.zeros(2)))
