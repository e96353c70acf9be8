"""Training speed on real ESC-10: clips/s, share of step time waiting for data, achieved FLOP/s.

For each model, a short run of the real Trainer (the ESC-10 recipe, folds 1-4) reports its
throughput and data-wait share (``summary.json``); the FLOPs of one training step (forward and
backward, counted by ``torch.utils.flop_counter``) times the steps per second gives the achieved
FLOP/s, set beside this machine's fp32 matmul peak measured in the same run (2048² matmuls on
all threads, best of 20).

    python benchmarks/train_speed.py [--prepared runs/demo/esc10] [--epochs 3] [--models resnet cnn]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from earmark.config import apply_overrides, from_dict, load_yaml
from earmark.models import build_model
from earmark.spec import TaggingSpec
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer


def matmul_peak(size: int = 2048, repeats: int = 20) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    best = min(_timed(lambda: torch.matmul(a, b)) for _ in range(repeats))
    return 2 * size**3 / best


def _timed(function) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def step_flops(config: TrainConfig, spec: TaggingSpec) -> float:
    model = build_model(config.model, spec, config.model_options)
    features = torch.randn(config.batch_size, config.segment_frames, 64)
    with FlopCounterMode(display=False) as counter:
        model(features).sum().backward()
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prepared", default="runs/demo/esc10")
    parser.add_argument("--recipe", default="recipes/esc10.yaml")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["resnet", "cnn", "mobilenet"])
    args = parser.parse_args()
    peak = matmul_peak()
    threads = torch.get_num_threads()
    print(f"fp32 matmul peak: {peak / 1e9:.0f} GFLOP/s on {threads} threads ({os.cpu_count()} CPUs)\n")
    header = ["model", "parameters", "GFLOP per step", "steps", "clips/s", "data wait", "achieved GFLOP/s"]
    print("| " + " | ".join([*header, "share of peak"]) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        data = apply_overrides(
            load_yaml(args.recipe),
            [
                f"data.prepared={args.prepared}",
                "data.test_folds=[5]",
                f"epochs={args.epochs}",
                f"model={name}",
            ],
        )
        config = from_dict(TrainConfig, data)
        with tempfile.TemporaryDirectory() as run_dir:
            trainer = Trainer(config, Path(run_dir))
            flops = step_flops(config, trainer.spec)
            parameters = sum(p.numel() for p in trainer.model.parameters())
            trainer.fit()
            summary = json.loads((Path(run_dir) / "summary.json").read_text())
        timing = summary["throughput"]
        achieved = flops * summary["steps"] / timing["step_seconds"]
        print(
            f"| {name} | {parameters / 1e6:.2f} M | {flops / 1e9:.1f} | {summary['steps']} | "
            f"{timing['clips_per_second']:.1f} | {100 * timing['data_wait_share']:.1f} % | "
            f"{achieved / 1e9:.0f} | {100 * achieved / peak:.0f} % |"
        )


if __name__ == "__main__":
    main()
