from __future__ import annotations

import numpy as np
import pytest
import torch

from earmark.features.audio import AudioError, load_audio
from earmark.features.logmel import LogMel, LogMelConfig
from earmark.features.waveform import Waveform, WaveformConfig
from earmark.inference import Segmenting, predict_frames
from earmark.streaming import SegmentAggregator, stream_frames, tag_file
from earmark.testing import write_broken_files, write_tone


@pytest.mark.parametrize("rate", [16000, 22050])
def test_streamed_logmel_equals_whole_file(tmp_path, rate, rng):
    path = write_tone(tmp_path / "t.wav", duration_seconds=7.3, sample_rate=rate, rng=rng)
    frontend = LogMel(LogMelConfig())
    whole = frontend.compute(load_audio(path, 16000)[0])
    streamed = np.concatenate(list(stream_frames(path, frontend, block_seconds=0.77)))
    assert streamed.shape == whole.shape
    # soxr's streaming and one-shot resampling differ in the last bits
    np.testing.assert_allclose(streamed, whole, atol=1e-3 if rate != 16000 else 1e-5)


def test_streamed_waveform_frames(tmp_path, rng):
    path = write_tone(tmp_path / "t.wav", duration_seconds=1.01, rng=rng)
    frontend = Waveform(WaveformConfig(frame_samples=160))
    whole = frontend.compute(load_audio(path, 16000)[0])
    streamed = np.concatenate(list(stream_frames(path, frontend, block_seconds=0.3)))
    np.testing.assert_allclose(streamed, whole, atol=1e-6)


class MeanModel(torch.nn.Module):
    """Mean over the valid frames of the first three dims, times 3 (a stand-in for a tagger)."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            return x.mean(1)[:, :3] * 3.0
        valid = torch.arange(x.shape[1])[None, :] < lengths[:, None]
        return (x * valid[:, :, None]).sum(1)[:, :3] / lengths[:, None] * 3.0


@pytest.mark.parametrize("total", [5, 40, 41, 47, 100])
@pytest.mark.parametrize("aggregate", ["mean_probability", "mean_logit", "max"])
@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_aggregator_equals_batch_prediction(total, aggregate, activation, rng):
    frames = rng.standard_normal((total, 4)).astype(np.float32)
    expected = predict_frames(
        MeanModel(), [frames], segment_frames=10, hop_frames=4, aggregate=aggregate, activation=activation
    )[0]
    aggregator = SegmentAggregator(
        MeanModel(),
        segment_frames=10,
        hop_frames=4,
        aggregate=aggregate,
        activation=activation,
        batch_segments=3,
    )
    for piece in np.array_split(frames, 7):
        aggregator.add(piece)
    np.testing.assert_allclose(aggregator.result(), expected, rtol=1e-5, atol=1e-6)
    if activation == "softmax" and aggregate != "max":  # a mean of distributions is one
        assert float(expected.sum()) == pytest.approx(1.0, abs=1e-5)


def test_tag_file_and_bad_files(tmp_path):
    path = write_tone(tmp_path / "t.wav", duration_seconds=3.0)
    frontend = LogMel(LogMelConfig(n_mels=8))
    scores = tag_file(path, frontend, MeanModel(), Segmenting(50, 25, "mean_probability"))
    assert scores.shape == (3,)
    broken = write_broken_files(tmp_path / "broken")
    for kind, message in [("corrupt", "cannot be decoded"), ("zero_length", "no samples"), ("nan", "NaN")]:
        with pytest.raises(AudioError, match=message):
            list(stream_frames(broken[kind], frontend))
    with pytest.raises(AudioError, match="does not exist"):
        list(stream_frames(tmp_path / "absent.wav", frontend))
