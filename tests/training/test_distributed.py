from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from earmark.config import from_dict
from earmark.predictions import Predictions
from earmark.testing.prepared import make_prepared
from earmark.training.checkpoint import load_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.distributed import (
    DistributedContext,
    average_buffers,
    gather_shards,
    join_shards,
    shard,
)
from earmark.training.evaluation import headline_metrics
from earmark.training.runs import load_run
from earmark.training.selection import open_prepared, select_splits
from earmark.training.trainer import Trainer

WORKER = Path(__file__).with_name("ddp_worker.py")


def recipe(prepared: Path, batch_size: int) -> dict:
    return {
        "data": {"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
        # no dropout and no batch norm (on CPU each rank would normalise its own share of the
        # batch): then DDP's averaged gradient is the one-process gradient of the global batch
        "model": "attention_mil",
        "model_options": {
            "hidden_layers": 2,
            "hidden_units": 32,
            "dropout": 0.0,
            "input_norm": False,
            "hidden_norm": False,
        },
        "segment_frames": 16,
        "batch_size": batch_size,
        "epochs": 2,
        "optim": {"lr": 1e-3, "warmup_steps": 0, "grad_clip_norm": None},
        "seed": 3,
        "device": "cpu",
    }


def batch_norm_recipe(prepared: Path) -> dict:
    """Batch norm on, a test split, validation every step and early stopping.

    The learning rate is so high that a validation gets worse within 6 steps, so the run stops
    early (and its metrics stay well below 1, where they would tell clip subsets apart).
    """
    settings = recipe(prepared, batch_size=4)
    settings["data"] = {"prepared": str(prepared), "train_folds": [1], "valid_folds": [2], "test_folds": [3]}
    settings["model_options"] = {**settings["model_options"], "input_norm": True, "hidden_norm": True}
    settings.update(epochs=3, validate_every=1, patience=1, report=False)
    settings["optim"] = {**settings["optim"], "lr": 1.0}
    return settings


def torchrun_worker(tmp_path: Path, settings: dict, name: str, *extra: str) -> subprocess.CompletedProcess:
    """Run the worker on ``settings`` with torchrun on 2 Gloo processes; the finished process."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    command = [
        torchrun,
        "--standalone",
        "--nproc-per-node",
        "2",
        str(WORKER),
        json.dumps(settings),
        str(tmp_path / name),
        str(tmp_path / f"{name}.pt"),
        *extra,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


def run_two_processes(tmp_path: Path, settings: dict, name: str) -> dict:
    """Train ``settings`` with torchrun on 2 Gloo processes; the worker's record of the run."""
    result = torchrun_worker(tmp_path, settings, name)
    start = max(result.stderr.find("Traceback"), 0)  # the failing rank's error, not the summary
    assert result.returncode == 0, result.stderr[start : start + 6000]
    return torch.load(tmp_path / f"{name}.pt", weights_only=False)


@pytest.mark.slow
def test_a_rank_that_fails_ends_the_job_with_its_error(tmp_path):
    """The failing rank leaves at once (no barrier): torchrun ends the job instead of it hanging."""
    prepared = make_prepared(tmp_path / "prepared", num_clips=48)
    result = torchrun_worker(tmp_path, recipe(prepared, batch_size=4), "failing", "1")
    assert result.returncode != 0
    assert "rank 1 fails on purpose after step 2" in result.stderr
    assert not (tmp_path / "failing.pt").exists()


@pytest.mark.slow
def test_two_gloo_processes_stay_in_sync_and_match_one_process(tmp_path):
    prepared = make_prepared(tmp_path / "prepared", num_clips=48)
    ddp = run_two_processes(tmp_path, recipe(prepared, batch_size=4), "ddp_run")
    assert ddp["world"] == 2
    assert ddp["mismatches"] == []
    assert ddp["steps"] == 2 * (32 // 8)  # 32 training clips, global batch 8, 2 epochs

    single = Trainer(from_dict(TrainConfig, recipe(prepared, batch_size=8)), tmp_path / "single")
    single.fit()
    assert single.step == ddp["steps"]
    for name, value in single.model.state_dict().items():
        if value.dtype.is_floating_point:
            torch.testing.assert_close(ddp["state"][name], value, rtol=1e-4, atol=1e-5, msg=name)
    summary = json.loads((tmp_path / "ddp_run" / "summary.json").read_text())
    assert summary["batch"] == {
        "world_size": 2,
        "batch_size": 4,
        "global_batch_size": 8,
        "steps_per_epoch": 4,
        "total_steps": 8,
    }
    rows = [json.loads(line) for line in (tmp_path / "ddp_run" / "metrics.jsonl").read_text().splitlines()]
    first = next(row for row in rows if row["split"] == "train")
    assert (first["world_size"], first["global_batch_size"], first["steps_per_epoch"]) == (2, 8, 4)
    assert "global_batch_size" not in [key for row in rows[1:] for key in row]


@pytest.mark.slow
def test_a_two_process_run_reports_every_clip_with_the_averaged_batch_norm(tmp_path):
    prepared = make_prepared(tmp_path / "prepared", num_clips=50)
    settings = batch_norm_recipe(prepared)
    ddp = run_two_processes(tmp_path, settings, "bn_run")
    run = tmp_path / "bn_run"
    summary = json.loads((run / "summary.json").read_text())
    config = from_dict(TrainConfig, settings)
    stores, labels = open_prepared(config.data)
    splits = select_splits(labels, config.data, seed=config.seed)
    assert splits["valid"].num_clips % 2 == 1  # the ranks score shares of unequal size

    # early stopping fired, and both ranks stopped at the same step with the same summary
    assert summary["steps"] < summary["batch"]["total_steps"], "no early stop: raise optim.lr in the recipe"
    assert ddp["rank_steps"][0] == ddp["rank_steps"][1] == summary["steps"]
    assert ddp["rank_summaries"][0]["valid"] == ddp["rank_summaries"][1]["valid"] == summary["valid"]
    assert summary["batch"]["world_size"] == 2
    assert summary["batch"]["global_batch_size"] == 8

    # the saved best model scored in one process gives the summary's metrics, on every clip
    loaded = load_run(run)
    for split in ("valid", "test"):
        clips = splits[split]
        scores = loaded.score((stores[c] for c in clips.clip_ids.tolist()), device="cpu")
        predictions = Predictions.from_spec(loaded.spec, clips.clip_ids, scores)
        alone = headline_metrics(clips, predictions, config.metric)
        assert summary[split] == pytest.approx(alone, rel=1e-5, abs=1e-6)
        written = Predictions.read(run / "predictions" / f"{split}.npz")
        assert written.clip_ids.tolist() == clips.clip_ids.tolist()  # every clip once, in order
        np.testing.assert_allclose(written.scores, scores, rtol=1e-5, atol=1e-6)
    # the best checkpoint holds the model that was validated (the same statistics)
    assert summary["best_valid"] == pytest.approx(summary["valid"][config.metric], rel=1e-5)

    # the last checkpoint carries the mean of the ranks' batch-norm statistics
    ranks = ddp["rank_buffers"]
    saved = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    running = [name for name in ranks[0] if name.endswith("running_mean")]
    assert running
    assert any(not torch.equal(ranks[0][name], ranks[1][name]) for name in running)
    for name in ranks[0]:
        mean = (ranks[0][name].double() + ranks[1][name].double()) / 2
        torch.testing.assert_close(saved[name], mean.float(), rtol=1e-6, atol=1e-7, msg=name)


def test_shards_cover_every_item_once_in_order():
    for count in (0, 1, 5, 16, 17):
        for world_size in (1, 2, 3, 8):
            parts = [np.arange(count)[shard(count, rank=r, world_size=world_size)] for r in range(world_size)]
            np.testing.assert_array_equal(join_shards(parts, count), np.arange(count))
            sizes = [len(p) for p in parts]
            assert max(sizes) - min(sizes) <= 1


def test_bad_shards_are_refused():
    with pytest.raises(ValueError, match="rank 2 is not in a world of size 2"):
        shard(4, rank=2, world_size=2)
    with pytest.raises(ValueError, match=r"shards hold \[2, 2\] rows, 4 in all, expected 5"):
        join_shards([np.zeros(2), np.zeros(2)], 5)


def test_alone_gathering_and_averaging_change_nothing():
    alone = DistributedContext()
    rows = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(gather_shards(rows, 3, alone), rows)
    norm = torch.nn.BatchNorm1d(3)
    norm.running_mean.fill_(0.25)
    average_buffers(norm, alone)
    assert torch.equal(norm.running_mean, torch.full((3,), 0.25))
