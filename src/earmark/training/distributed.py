"""Distributed training through ``torchrun``: PyTorch DDP, NCCL on GPUs and Gloo on CPUs.

Nothing here launches processes: ``torchrun --nproc-per-node N -m earmark train ...`` sets
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``, and :func:`setup` joins the process group.
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist

__all__ = ["DistributedContext", "all_reduce_mean", "setup", "teardown"]


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in the job: its ranks, the world size and its device."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes checkpoints, logs and predictions."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (no-op when alone)."""
        if self.enabled:
            dist.barrier()


def _pick_device(requested: str, local_rank: int) -> torch.device:
    if requested == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} was asked for but CUDA is not available here")
    return device


def setup(requested_device: str = "auto") -> DistributedContext:
    """Join the process group when launched by torchrun; otherwise a single-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _pick_device(requested_device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistributedContext(rank=rank, local_rank=local_rank, world_size=world_size, device=device)


def teardown(context: DistributedContext) -> None:
    """Leave the process group."""
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(value: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """The mean of ``value`` over ranks (itself when alone)."""
    if not context.enabled:
        return value
    reduced = value.detach().clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced / context.world_size
