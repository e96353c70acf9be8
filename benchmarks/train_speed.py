"""Training speed on real ESC-10: clips/s, share of step time waiting for data, achieved FLOP/s.

For each model and each variant of the settings that matter for speed (``torch.compile``,
channels-last images, batch size, torch threads), a short run of the real Trainer (the ESC-10
recipe, folds 1-4) reports its throughput and data-wait share (``summary.json``); the FLOPs of
one training step (forward and backward, counted by ``torch.utils.flop_counter``) times the
steps per second gives the achieved FLOP/s, set beside this machine's fp32 matmul peak measured
in the same run (2048² matmuls, best of 20) at the variant's own thread count: a run on one
thread is set beside one thread's peak. The variant ``side_by_side`` trains two runs at once,
one thread each (how the cross-validations run their folds on this machine); their summed
FLOP/s is set beside the peak on the two threads they use together, whatever the default
thread count (``OMP_NUM_THREADS=1`` included). The first ``--skip-steps`` steps (compilation,
warm-up) are left out of the timing.

    python benchmarks/train_speed.py [--prepared runs/demo/esc10] [--steps 40] [--models resnet cnn]
        [--variants eager compile no_channels_last batch64 threads1 side_by_side]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from earmark.config import apply_overrides, from_dict, load_yaml
from earmark.models import build_model
from earmark.spec import TaggingSpec
from earmark.training.config import TrainConfig
from earmark.training.processes import side_by_side_pool
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
    features = torch.randn(config.batch_size, spec.segment_frames, 64)
    with FlopCounterMode(display=False) as counter:
        model(features).sum().backward()
    return float(counter.get_total_flops())


#: name -> (recipe overrides, channels-last images, torch threads or None for the default)
VARIANTS: dict[str, tuple[list[str], bool, int | None]] = {
    "eager": ([], True, None),
    "compile": (["compile=true"], True, None),
    "no_channels_last": ([], False, None),
    "batch16": (["batch_size=16"], True, None),
    "batch64": (["batch_size=64"], True, None),
    "threads1": ([], True, 1),
    "side_by_side": ([], True, 1),  # two runs at once, one thread each
    "width0.5": (["model_options.width_multiplier=0.5"], True, None),
    "width1": (["model_options.width_multiplier=1.0"], True, None),
}


def set_channels_last(enabled: bool) -> None:
    """Make the log-mel models feed their convolutions channels-last images, or contiguous ones."""
    from earmark.models import base

    layout = torch.channels_last if enabled else torch.contiguous_format

    def forward(self, features):  # type: ignore[no-untyped-def]
        normalized = self.norm(features.transpose(1, 2))
        return normalized.transpose(1, 2).unsqueeze(1).contiguous(memory_format=layout)

    base.MelInput.forward = forward  # type: ignore[method-assign]


def timed_steps(run_dir: Path, skip: int) -> tuple[int, float, float, float]:
    """Steps, clips, step seconds and data seconds after the first ``skip`` logged steps."""
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r.get("split") == "train"]
    first = next((r for r in train if r["step"] >= skip), train[0])
    last = train[-1]
    if last["step"] <= first["step"]:
        raise SystemExit(f"too few logged steps to time after skipping {skip}; raise --steps")
    return (
        last["step"] - first["step"],
        last["clips"] - first["clips"],
        last["step_seconds"] - first["step_seconds"],
        last["data_seconds"] - first["data_seconds"],
    )


Timing = tuple[float, int, int, float, float]


def train_timed(data: dict[str, Any], channels_last: bool, threads: int, skip: int) -> Timing:
    """Train ``data`` in a temporary run directory: FLOP per step, steps, clips, step and data seconds."""
    set_channels_last(channels_last)
    torch.set_num_threads(threads)
    config = from_dict(TrainConfig, data)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(config, Path(run_dir))
        flops = step_flops(config, trainer.spec)
        trainer.fit()
        return (flops, *timed_steps(Path(run_dir), skip))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prepared", default="runs/demo/esc10")
    parser.add_argument("--recipe", default="recipes/esc10.yaml")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--skip-steps", type=int, default=10, help="warm-up steps left out of the timing")
    parser.add_argument("--models", nargs="+", default=["resnet", "cnn", "mobilenet"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    default_threads = torch.get_num_threads()
    peaks: dict[int, float] = {}

    def peak_at(threads: int) -> float:
        if threads not in peaks:
            torch.set_num_threads(threads)
            peaks[threads] = matmul_peak()
            torch.set_num_threads(default_threads)
        return peaks[threads]

    print(
        f"fp32 matmul peak: {peak_at(default_threads) / 1e9:.0f} GFLOP/s on {default_threads} threads, "
        f"{peak_at(1) / 1e9:.0f} GFLOP/s on 1 thread ({os.cpu_count()} CPUs)\n"
    )
    header = ["model", "variant", "GFLOP per step", "timed steps", "clips/s", "data wait", "GFLOP/s"]
    print("| " + " | ".join([*header, "peak it is set beside", "share of peak"]) + " |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        for variant in args.variants:
            overrides, channels_last, threads = VARIANTS[variant]
            data = apply_overrides(
                load_yaml(args.recipe),
                [
                    f"data.prepared={args.prepared}",
                    "data.test_folds=[5]",
                    "data.valid_fraction=0.0",
                    f"max_steps={args.steps}",
                    "max_minutes=null",
                    "report=false",
                    "checkpoint_every=100000",
                    f"model={name}",
                    *overrides,
                ],
            )
            data.pop("tune", None)
            threads = threads or default_threads
            if variant == "side_by_side":
                with side_by_side_pool(2, threads=1) as pool:
                    job_args = (data, channels_last, 1, args.skip_steps)
                    jobs = [pool.submit(train_timed, *job_args) for _ in range(2)]
                    results = [job.result() for job in jobs]
                threads = 2  # together
            else:
                results = [train_timed(data, channels_last, threads, args.skip_steps)]
            peak, peak_name = peak_at(threads), f"{threads} thread{'s' if threads > 1 else ''}"
            torch.set_num_threads(default_threads)
            flops = results[0][0]
            achieved = sum(r[0] * r[1] / r[3] for r in results)
            clips_per_second = sum(r[2] / (r[3] + r[4]) for r in results)
            data_share = sum(r[4] for r in results) / sum(r[3] + r[4] for r in results)
            print(
                f"| {name} | {variant} | {flops / 1e9:.1f} | {sum(r[1] for r in results)} "
                f"| {clips_per_second:.1f} | {100 * data_share:.1f} % | {achieved / 1e9:.0f} "
                f"| {peak / 1e9:.0f} ({peak_name}) | {100 * achieved / peak:.0f} % |",
                flush=True,
            )


if __name__ == "__main__":
    main()
