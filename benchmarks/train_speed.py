"""Training speed on real ESC-10: clips/s, share of step time waiting for data, achieved FLOP/s.

For each model and each variant of the settings that matter for speed (``torch.compile``,
channels-last images, batch size, torch threads), a short run of the real Trainer (the ESC-10
recipe, folds 1-4) reports its throughput and data-wait share (``summary.json``); the FLOPs of
one training step (forward and backward, counted by ``torch.utils.flop_counter``) times the
steps per second gives the achieved FLOP/s, set beside this machine's fp32 matmul peak measured
in the same run (2048² matmuls on all threads, best of 20). The first ``--skip-steps`` steps
(compilation, warm-up) are left out of the timing.

    python benchmarks/train_speed.py [--prepared runs/demo/esc10] [--steps 40] [--models resnet cnn]
        [--variants eager compile no_channels_last batch64 threads1]
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
    peak = matmul_peak()
    print(
        f"fp32 matmul peak: {peak / 1e9:.0f} GFLOP/s on {default_threads} threads ({os.cpu_count()} CPUs)\n"
    )
    header = ["model", "variant", "GFLOP per step", "timed steps", "clips/s", "data wait", "GFLOP/s"]
    print("| " + " | ".join([*header, "share of peak"]) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        for variant in args.variants:
            overrides, channels_last, threads = VARIANTS[variant]
            set_channels_last(channels_last)
            torch.set_num_threads(threads or default_threads)
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
            config = from_dict(TrainConfig, data)
            with tempfile.TemporaryDirectory() as run_dir:
                trainer = Trainer(config, Path(run_dir))
                flops = step_flops(config, trainer.spec)
                trainer.fit()
                steps, clips, step_seconds, data_seconds = timed_steps(Path(run_dir), args.skip_steps)
            achieved = flops * steps / step_seconds
            busy = step_seconds + data_seconds
            print(
                f"| {name} | {variant} | {flops / 1e9:.1f} | {steps} | {clips / busy:.1f} "
                f"| {100 * data_seconds / busy:.1f} % | {achieved / 1e9:.0f} "
                f"| {100 * achieved / peak:.0f} % |",
                flush=True,
            )
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
