"""Run by tests/training/test_distributed.py under torchrun (2 Gloo processes on the CPU).

After every optimizer step, every rank gathers a checksum of its parameters and rank 0 checks
they are identical; at the end rank 0 saves its parameters for comparison.
"""

from __future__ import annotations

import json
import sys

import torch
import torch.distributed as dist

from earmark.config import from_dict
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer


def main() -> None:
    settings = from_dict(TrainConfig, json.loads(sys.argv[1]))
    run_dir, out = sys.argv[2], sys.argv[3]
    mismatches: list[int] = []
    holder: dict[str, Trainer] = {}

    def check(step: int, total: int) -> None:
        model = holder["trainer"].model
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, flat)
        if any(not torch.equal(gathered[0], g) for g in gathered[1:]):
            mismatches.append(step)

    trainer = Trainer(settings, run_dir, on_step=check)
    holder["trainer"] = trainer
    trainer.fit()
    if dist.get_rank() == 0:
        torch.save(
            {
                "state": trainer.model.state_dict(),
                "mismatches": mismatches,
                "steps": trainer.step,
                "world": dist.get_world_size(),
            },
            out,
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
