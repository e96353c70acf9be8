from __future__ import annotations

import shutil

import numpy as np
import pytest

from earmark.config import ConfigError, from_dict
from earmark.runs import load_run
from earmark.testing.prepared import make_prepared
from earmark.training.config import TrainConfig
from earmark.training.selection import open_prepared
from earmark.training.trainer import Trainer


def test_a_checkpoint_alone_predicts_as_its_run(tmp_path):
    """best.pt carries spec, resolved config and segmenting: copied anywhere, it scores as the run."""
    prepared = make_prepared(tmp_path / "prepared")
    config = {
        "data": {"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
        "model": "cnn",
        "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
        "segment_frames": 16,
        "predict_hop_frames": 5,
        "predict_aggregate": "max",
        "batch_size": 8,
        "epochs": 2,
        "report": False,
    }
    run = tmp_path / "run"
    Trainer(from_dict(TrainConfig, config), run).fit()
    alone = tmp_path / "elsewhere" / "model.pt"
    alone.parent.mkdir()
    shutil.copy(run / "checkpoints" / "best.pt", alone)
    from_run, from_file = load_run(run), load_run(alone)
    assert from_file.config == from_run.config
    assert from_file.segmenting == from_run.segmenting
    assert from_file.segmenting.hop_frames == 5
    stores, labels = open_prepared(from_run.config.data)
    clips = [stores[c] for c in labels.clip_ids.tolist()[:6]]
    np.testing.assert_array_equal(from_file.score(clips, device="cpu"), from_run.score(clips, device="cpu"))


def test_a_directory_that_is_not_a_run_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a training run"):
        load_run(tmp_path)


def test_a_softmax_run_scores_with_a_softmax_everywhere(tmp_path):
    """``output: softmax`` trains a categorical CE; validation, test and a reloaded run score by softmax."""
    prepared = make_prepared(tmp_path / "prepared", max_positives=1)
    config = {
        "data": {"prepared": str(prepared), "train_folds": [1], "valid_folds": [2], "test_folds": [3]},
        "model": "cnn",
        "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
        "strategy": "supervised",
        "strategy_options": {"output": "softmax"},
        "segment_frames": 16,
        "batch_size": 8,
        "epochs": 2,
        "report": False,
    }
    run = tmp_path / "run"
    Trainer(from_dict(TrainConfig, config), run).fit()
    loaded = load_run(run)
    assert loaded.segmenting.activation == "softmax"
    test = np.load(run / "predictions" / "test.npz")
    np.testing.assert_allclose(test["scores"].sum(axis=1), 1.0, rtol=1e-5)
    stores, labels = open_prepared(loaded.config.data)
    clips = [stores[c] for c in labels.clip_ids.tolist()[:5]]
    np.testing.assert_allclose(loaded.score(clips, device="cpu").sum(axis=1), 1.0, rtol=1e-5)

    multi = make_prepared(tmp_path / "multi", max_positives=3)
    with pytest.raises(ConfigError, match="one class per labeled training clip"):
        Trainer(
            from_dict(TrainConfig, {**config, "data": {**config["data"], "prepared": str(multi)}}),
            tmp_path / "m",
        )
