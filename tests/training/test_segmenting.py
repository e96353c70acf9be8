"""Segment lengths in seconds, the run's one Segmenting, head coverage and padded short clips."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from earmark.config import ConfigError, from_dict
from earmark.inference import Segmenting, predict_frames
from earmark.predictions import Predictions
from earmark.runs import load_run
from earmark.testing.prepared import make_prepared
from earmark.training.checkpoint import load_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer

FRAMES_PER_SECOND = 50.0  # the log-mel front-end of make_prepared: 16 kHz, hop 320 samples


def config(prepared, **fields):
    data = {
        "data": {"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
        "model": "cnn",
        "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
        "batch_size": 8,
        "epochs": 2,
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "seed": 1,
        "report": False,
        **fields,
    }
    return from_dict(TrainConfig, data)


def test_seconds_become_frames_at_the_front_end_rate():
    settings = TrainConfig(segment_seconds=0.5, hop_seconds=0.1).segmenting(FRAMES_PER_SECOND)
    assert (settings.segment_frames, settings.hop_frames) == (25, 5)
    assert TrainConfig(segment_seconds=0.5).segmenting(FRAMES_PER_SECOND).hop_frames == 12
    assert TrainConfig(segment_seconds=2.0).segmenting(0.861).segment_frames == 2  # aisfx rate
    assert TrainConfig(segment_seconds=0.1).segmenting(0.861).segment_frames == 1  # never 0
    assert TrainConfig().segmenting(FRAMES_PER_SECOND).segment_frames == 128


def test_frames_and_seconds_together_are_refused():
    with pytest.raises(ConfigError, match="segment_frames or segment_seconds, not both"):
        TrainConfig(segment_frames=100, segment_seconds=2.0)
    with pytest.raises(ConfigError, match="predict_hop_frames or hop_seconds, not both"):
        TrainConfig(predict_hop_frames=10, hop_seconds=0.2)
    with pytest.raises(ConfigError, match="segment_seconds must be positive"):
        TrainConfig(segment_seconds=0.0)


def test_head_crops_score_the_head_unless_told_otherwise():
    assert TrainConfig(crop="head").segmenting(50.0).coverage == "head"
    assert TrainConfig(crop="random").segmenting(50.0).coverage == "cover"
    assert TrainConfig(crop="head", predict_coverage="cover").segmenting(50.0).coverage == "cover"


class FirstValue(torch.nn.Module):
    """Logit = the mean of the first feature over the valid frames (a stand-in model)."""

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            lengths = torch.full((features.shape[0],), features.shape[1])
        valid = torch.arange(features.shape[1])[None, :] < lengths[:, None]
        return ((features[:, :, :1] * valid[:, :, None]).sum(1) / lengths[:, None]).float()


def test_head_coverage_scores_only_the_start_of_each_clip():
    clip = np.concatenate([np.full((10, 2), 2.0), np.full((30, 2), -2.0)]).astype(np.float32)
    head = predict_frames(FirstValue(), [clip], segment_frames=10, coverage="head")
    cover = predict_frames(FirstValue(), [clip], segment_frames=10, hop_frames=10, coverage="cover")
    np.testing.assert_allclose(head, 1 / (1 + np.exp(-2.0)), rtol=1e-6)
    assert cover[0, 0] < 0.4  # three of the four segments are the negative tail
    short = np.full((3, 2), 1.0, dtype=np.float32)  # shorter than a segment: padding ignored
    np.testing.assert_allclose(Segmenting(10, 5).score(FirstValue(), [short]), 1 / (1 + np.exp(-1.0)))


def test_a_run_stores_its_segmenting_and_every_scorer_uses_it(tmp_path):
    prepared = make_prepared(tmp_path / "prepared")
    run = tmp_path / "run"
    trainer = Trainer(config(prepared, segment_seconds=0.64, hop_seconds=0.2, crop="head"), run)
    assert trainer.spec.segment_frames == 32
    assert trainer.segmenting == Segmenting(32, 10, "mean_probability", "head")
    trainer.fit()
    assert load_checkpoint(run / "checkpoints" / "best.pt")["segmenting"] == trainer.segmenting.to_dict()
    loaded = load_run(run)
    assert loaded.segmenting == trainer.segmenting
    valid = trainer.splits["valid"]
    scores = loaded.score(trainer.stores[c] for c in valid.clip_ids.tolist())
    written = Predictions.read(run / "predictions" / "valid.npz")
    np.testing.assert_allclose(scores, written.scores, rtol=1e-5, atol=1e-6)


def test_a_segment_far_longer_than_every_clip_is_a_warning_naming_both(tmp_path):
    prepared = make_prepared(tmp_path / "prepared", min_frames=20, max_frames=40)
    with pytest.warns(UserWarning, match=r"segment is 500 frames \(10.00 s\).*longest training clip has 40"):
        Trainer(config(prepared, segment_seconds=10.0, epochs=1), tmp_path / "run")


def test_one_frame_clips_in_long_segments_learn_as_in_one_frame_segments(tmp_path):
    """The dead-model case: 1-frame clips padded to 250 frames train exactly as unpadded ones."""
    prepared = make_prepared(tmp_path / "prepared", num_clips=90, min_frames=1, max_frames=1)
    options = {"hidden_layers": 1, "hidden_units": 16}
    results = {}
    for segment in (1, 250):
        fields = {"model": "attention_mil", "model_options": options, "segment_frames": segment}
        with pytest.warns(UserWarning, match="padding") if segment > 1 else contextlib.nullcontext():
            trainer = Trainer(config(prepared, epochs=8, **fields), tmp_path / f"run{segment}")
        results[segment] = trainer.fit()["valid"]
    assert results[250]["lwlrap"] > 0.8, results
    assert results[250]["lwlrap"] == pytest.approx(results[1]["lwlrap"], abs=1e-6)


def test_short_crops_are_padded_masked_and_repeat_for_a_seed(tmp_path):
    from earmark.data.table import read_labels
    from earmark.features.store import FeatureStore
    from earmark.training.data import SegmentDataset, StoreSet

    prepared = make_prepared(tmp_path / "prepared", num_clips=40, min_frames=40, max_frames=60)
    stores = StoreSet([FeatureStore(prepared / "features" / "all")])
    labels = read_labels(prepared / "labels.csv")

    def lengths(share: float, epoch: int) -> list[int]:
        dataset = SegmentDataset(
            stores, labels, segment_frames=32, seed=3, short_crop_share=share, short_crop_min_frames=5
        )
        dataset.set_epoch(epoch)
        items = [dataset[row] for row in range(labels.num_clips)]
        for segment, valid, _ in items:
            assert segment.shape == (32, 16)
            assert not segment[valid:].any()  # the padding is zero
            assert segment[:valid].any()
        return [valid for _, valid, _ in items]

    assert lengths(0.0, 0) == [32] * 40
    every = lengths(1.0, 0)
    assert min(every) >= 5
    assert max(every) <= 32
    assert len(set(every)) > 10  # drawn, not fixed
    assert every == lengths(1.0, 0)  # the same seed and epoch cut the same crops
    assert every != lengths(1.0, 1)
    half = lengths(0.5, 0)
    assert 5 <= sum(v < 32 for v in half) <= 35
    with pytest.raises(ConfigError, match="short_crop_share must be in"):
        TrainConfig(short_crop_share=1.5)


@pytest.mark.parametrize("aggregate", ["mean_probability", "mean_logit", "max"])
@pytest.mark.parametrize("coverage", ["cover", "head"])
def test_clips_scored_together_score_as_each_alone(aggregate, coverage):
    """Batches of clips with equal segment counts (aggregated at once) and of mixed lengths agree
    with each clip scored on its own."""
    torch.manual_seed(0)

    class Mean(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(3, 4)

        def forward(self, features, lengths=None):  # type: ignore[no-untyped-def]
            return self.linear(features.sum(1))

    model = Mean()
    rng = np.random.default_rng(0)
    for lengths in ([7, 7, 7], [5, 5], [3, 9, 7, 5, 1]):
        clips = [rng.standard_normal((n, 3)).astype(np.float32) for n in lengths]
        options = {"segment_frames": 5, "hop_frames": 2, "aggregate": aggregate, "coverage": coverage}
        together = predict_frames(model, clips, **options)
        alone = np.concatenate([predict_frames(model, [clip], **options) for clip in clips])
        np.testing.assert_allclose(together, alone, rtol=1e-6, atol=1e-7)
