"""scan_frames: the segments of a stream, block by block, equal those of the whole clip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from earmark.inference import Segmenting, predict_frames
from earmark.timeline import Timeline, plot_timeline, scan_frames


class Linear(torch.nn.Module):
    """Mean over valid frames times a fixed matrix: a deterministic stand-in for a tagger."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(4, 3, generator=torch.Generator().manual_seed(seed)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            return x.mean(1) @ self.weight
        valid = torch.arange(x.shape[1])[None, :] < lengths[:, None]
        return ((x * valid[:, :, None]).sum(1) / lengths[:, None]) @ self.weight


def scan(blocks, scorers, rate=10.0):
    rows = []
    clip, duration = scan_frames(
        blocks, scorers, frames_per_second=rate, on_segment=lambda *row: rows.append(row)
    )
    return rows, clip, duration


@pytest.mark.parametrize("total", [7, 40, 47])
def test_blocks_give_the_segments_and_clip_scores_of_the_whole(total, rng):
    frames = rng.standard_normal((total, 4)).astype(np.float32)
    segmenting = Segmenting(10, 4, "mean_logit")
    whole, clip, duration = scan([frames], [(Linear(0), segmenting)])
    pieces, clip_pieces, _ = scan(np.array_split(frames, 6), [(Linear(0), segmenting)])
    assert [(s, e) for s, e, _ in pieces] == [(s, e) for s, e, _ in whole]
    np.testing.assert_allclose(np.stack([p for *_, p in pieces]), np.stack([p for *_, p in whole]), atol=1e-6)
    expected = predict_frames(Linear(0), [frames], segment_frames=10, hop_frames=4, aggregate="mean_logit")
    np.testing.assert_allclose(clip[0], expected[0], atol=1e-6)
    np.testing.assert_allclose(clip_pieces, clip, atol=1e-6)
    assert duration == pytest.approx(total / 10.0)
    assert whole[0][0] == 0.0
    assert whole[-1][1] == pytest.approx(total / 10.0)


def test_several_models_average_their_segment_probabilities(rng):
    frames = rng.standard_normal((33, 4)).astype(np.float32)
    segmenting = Segmenting(8, 3)
    both, clips, _ = scan([frames], [(Linear(1), segmenting), (Linear(2), segmenting)])
    one, _, _ = scan([frames], [(Linear(1), segmenting)])
    two, _, _ = scan([frames], [(Linear(2), segmenting)])
    mean = (np.stack([p for *_, p in one]) + np.stack([p for *_, p in two])) / 2
    np.testing.assert_allclose(np.stack([p for *_, p in both]), mean, atol=1e-6)
    assert clips.shape == (2, 3)
    with pytest.raises(ValueError, match="run 2 cuts 8-frame segments every 4 frames"):
        scan([frames], [(Linear(1), segmenting), (Linear(2), Segmenting(8, 4))])


def test_a_softmax_run_gives_segment_and_clip_distributions(rng):
    """A run that trained a softmax scores each segment and the clip by a softmax (rows sum to one)."""
    frames = rng.standard_normal((29, 4)).astype(np.float32)
    segmenting = Segmenting(8, 3, "mean_probability", activation="softmax")
    rows, clip, _ = scan([frames], [(Linear(3), segmenting)])
    segments = np.stack([p for *_, p in rows])
    np.testing.assert_allclose(segments.sum(axis=1), 1.0, rtol=1e-6)
    logits = torch.stack([Linear(3)(torch.from_numpy(frames[None, s : s + 8])) for s in (0, 3)])[:, 0]
    np.testing.assert_allclose(segments[:2], torch.softmax(logits.detach(), dim=1).numpy(), rtol=1e-5)
    expected = predict_frames(Linear(3), [frames], segment_frames=8, hop_frames=3, activation="softmax")
    np.testing.assert_allclose(clip[0], expected[0], atol=1e-6)
    assert float(clip.sum()) == pytest.approx(1.0, abs=1e-6)


def test_plot_timeline_draws_a_png(tmp_path, rng):
    scores = rng.random((5, 3))
    timeline = Timeline(("a", "b", "c"), np.arange(5.0), np.arange(5.0) + 2.0, scores, 6.0)
    path = plot_timeline(timeline, tmp_path / "t.png", events=timeline.events(0.5), title="t")
    assert path.read_bytes()[:4] == b"\x89PNG"
