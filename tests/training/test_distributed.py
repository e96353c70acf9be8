from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from earmark.config import from_dict
from earmark.testing.prepared import make_prepared
from earmark.training.config import TrainConfig
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


@pytest.mark.slow
def test_two_gloo_processes_stay_in_sync_and_match_one_process(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    prepared = make_prepared(tmp_path / "prepared", num_clips=48)
    out = tmp_path / "rank0.pt"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    command = [
        torchrun,
        "--standalone",
        "--nproc-per-node",
        "2",
        str(WORKER),
        json.dumps(recipe(prepared, batch_size=4)),
        str(tmp_path / "ddp_run"),
        str(out),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    ddp = torch.load(out, weights_only=False)
    assert ddp["world"] == 2
    assert ddp["mismatches"] == []
    assert ddp["steps"] == 2 * (32 // 8)  # 32 training clips, global batch 8, 2 epochs

    single = Trainer(from_dict(TrainConfig, recipe(prepared, batch_size=8)), tmp_path / "single")
    single.fit()
    assert single.step == ddp["steps"]
    for name, value in single.model.state_dict().items():
        if value.dtype.is_floating_point:
            torch.testing.assert_close(ddp["state"][name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert (tmp_path / "ddp_run" / "summary.json").exists()
