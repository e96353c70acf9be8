"""Run by tests/training/test_distributed.py under torchrun (2 Gloo processes on the CPU).

After every optimizer step, every rank gathers a checksum of its parameters and rank 0 checks
they are identical. At the last step (before the validation and checkpoint that average the
batch-norm statistics) every rank records its floating-point buffers. At the end rank 0 saves
its parameters, every rank's recorded buffers, step and summary for comparison.

An optional fourth argument names a rank that raises after its second step: the job must then
end with that rank's error (through :func:`earmark.training.distributed.run_and_leave`, as
``earmark train``), not hang with the other rank blocked in a collective.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import torch
import torch.distributed as dist

from earmark.config import from_dict
from earmark.training.config import TrainConfig
from earmark.training.distributed import run_and_leave
from earmark.training.trainer import Trainer


def gathered(value: Any) -> list[Any]:
    """``value`` of every rank, in rank order."""
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def main() -> None:
    settings = from_dict(TrainConfig, json.loads(sys.argv[1]))
    run_dir, out = sys.argv[2], sys.argv[3]
    failing_rank = int(sys.argv[4]) if len(sys.argv) > 4 else -1
    mismatches: list[int] = []
    last_buffers: dict[str, torch.Tensor] = {}
    holder: dict[str, Trainer] = {}

    def check(step: int, total: int) -> None:
        model = holder["trainer"].model
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        ranks = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
        dist.all_gather(ranks, flat)
        if any(not torch.equal(ranks[0], g) for g in ranks[1:]):
            mismatches.append(step)
        last_buffers.clear()
        last_buffers.update(
            {n: b.detach().clone() for n, b in model.named_buffers() if b.is_floating_point()}
        )
        if step == 2 and dist.get_rank() == failing_rank:
            raise RuntimeError(f"rank {failing_rank} fails on purpose after step 2")

    trainer = Trainer(settings, run_dir, on_step=check)
    holder["trainer"] = trainer
    run_and_leave(trainer.context, lambda: record(trainer, trainer.fit(), mismatches, last_buffers, out))


def record(
    trainer: Trainer, summary: dict, mismatches: list[int], last_buffers: dict[str, torch.Tensor], out: str
) -> None:
    """Gather every rank's buffers, step and summary; rank 0 saves them with its parameters."""
    buffers, steps, summaries = gathered(last_buffers), gathered(trainer.step), gathered(summary)
    if dist.get_rank() == 0:
        torch.save(
            {
                "state": trainer.model.state_dict(),
                "mismatches": mismatches,
                "steps": trainer.step,
                "world": dist.get_world_size(),
                "rank_buffers": buffers,
                "rank_steps": steps,
                "rank_summaries": summaries,
            },
            out,
        )


if __name__ == "__main__":
    main()
