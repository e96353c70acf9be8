"""Distributed training through ``torchrun``: PyTorch DDP, NCCL on GPUs and Gloo on CPUs.

Nothing here launches processes: ``torchrun --nproc-per-node N -m earmark train ...`` sets
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``, and :func:`setup` joins the process group.

Evaluation is sharded: each rank scores a contiguous share of the clips (:func:`shard`, no
padding, so no clip twice) and :func:`gather_shards` hands every rank all scores in clip order,
so metrics, predictions and the best-checkpoint decision cover every clip, as in one process.
Batch-norm running statistics are tracked per rank (on CPU there is no SyncBatchNorm);
:func:`average_buffers` replaces them by their mean over ranks before each validation and
checkpoint, so the saved model carries the statistics of every rank's data.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

T = TypeVar("T")

__all__ = [
    "DistributedContext",
    "all_reduce_max",
    "all_reduce_mean",
    "average_buffers",
    "broadcast_module",
    "broadcast_values",
    "gather_shards",
    "join_shards",
    "run_and_leave",
    "setup",
    "shard",
    "teardown",
]


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


def run_and_leave(context: DistributedContext, work: Callable[[], T]) -> T:
    """``work()``, then leave the process group: after every rank when it returned, at once if it raised.

    A rank whose work raised must not wait at a barrier: its peers may be blocked in a
    collective it will never join, and the job would hang until the Gloo timeout instead of
    ending when the launcher sees this rank fail.
    """
    finished = False
    try:
        result = work()
        finished = True
        return result
    finally:
        teardown(context, wait_for_peers=finished)


def teardown(context: DistributedContext, *, wait_for_peers: bool = True) -> None:
    """Leave the process group, after every rank has finished with it (``wait_for_peers``).

    The barrier matters after a run that succeeded: a rank that destroys its Gloo group while a
    peer is still writing (rank 0 saving the final files) closes sockets the peer's threads
    still use, and one of the two processes aborts ("terminate called without an active
    exception") now and then. After a failure, pass ``wait_for_peers=False``: the peers may be
    blocked in a collective this rank will never join, and the launcher stops them once this
    rank exits.
    """
    if context.enabled and dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()


def all_reduce_mean(value: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """The mean of ``value`` over ranks (itself when alone)."""
    if not context.enabled:
        return value
    reduced = value.detach().clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced / context.world_size


def all_reduce_max(value: float, context: DistributedContext) -> float:
    """The largest ``value`` over ranks (itself when alone): one clock for every rank."""
    if not context.enabled:
        return value
    reduced = torch.tensor([value], dtype=torch.float64, device=context.device)
    dist.all_reduce(reduced, op=dist.ReduceOp.MAX)
    return float(reduced.item())


def broadcast_values(values: Sequence[float], context: DistributedContext) -> list[float]:
    """Rank 0's ``values`` on every rank (``values`` themselves when alone).

    Decisions every rank must share (best checkpoint, early stopping) are taken from these, so
    no rank leaves the training loop while another waits for it.
    """
    if not context.enabled:
        return [float(v) for v in values]
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=context.device)
    dist.broadcast(tensor, src=0)
    return [float(v) for v in tensor.tolist()]


def shard(count: int, *, rank: int, world_size: int) -> slice:
    """Rank ``rank``'s contiguous share of ``count`` items; shares differ by at most one item.

    The shares of ranks ``0 .. world_size - 1`` cover every item exactly once, in order (no
    padding: a rank may get none when there are fewer items than ranks).
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")
    if count < 0:
        raise ValueError(f"count must be non-negative, got {count}")
    return slice(count * rank // world_size, count * (rank + 1) // world_size)


def join_shards(parts: Sequence[np.ndarray], count: int) -> np.ndarray:
    """The ranks' shards ``parts`` (in rank order, each ``(share, ...)``) as one ``(count, ...)`` array."""
    joined = np.concatenate(list(parts)) if parts else np.zeros(0)
    if len(joined) != count:
        sizes = [len(p) for p in parts]
        raise ValueError(f"the ranks' shards hold {sizes} rows, {len(joined)} in all, expected {count}")
    return joined


def gather_shards(rows: np.ndarray, count: int, context: DistributedContext) -> np.ndarray:
    """Every rank's ``rows`` (its :func:`shard` of ``count`` items) joined in order, on every rank.

    ``rows`` is ``(share, ...)``; the result is ``(count, ...)``. A collective: every rank calls it.
    """
    if not context.enabled:
        return join_shards([rows], count)
    parts: list[Any] = [None] * context.world_size
    dist.all_gather_object(parts, rows)
    return join_shards(parts, count)


def average_buffers(module: nn.Module, context: DistributedContext) -> None:
    """Replace each floating-point buffer of ``module`` by its mean over ranks, in place.

    The buffers are batch-norm running means and variances, and any other running statistic.
    Summed in float64, so a buffer already equal on every rank (an input standardisation) is
    left exactly as it was. A collective: every rank calls it with the same architecture.
    """
    if not context.enabled:
        return
    buffers = [b for b in module.buffers() if b.is_floating_point()]
    if not buffers:
        return
    with torch.no_grad():
        flat = torch.cat([b.detach().reshape(-1).to(torch.float64) for b in buffers])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= context.world_size
        offset = 0
        for buffer in buffers:
            buffer.copy_(flat[offset : offset + buffer.numel()].view_as(buffer))
            offset += buffer.numel()


def broadcast_module(module: nn.Module, context: DistributedContext) -> None:
    """Give every rank rank 0's parameters and buffers of ``module`` (no-op when alone)."""
    if not context.enabled:
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if isinstance(tensor, torch.Tensor):
                dist.broadcast(tensor, src=0)
