"""Work side by side on one CPU machine: a pool of spawned processes that end with their parent.

A narrow network keeps one core busier than it keeps several, so on a CPU machine two folds of a
cross-validation (or two trials of a search) each on one thread train more clips per second than
one on both (``benchmarks/RESULTS.md``). :func:`side_by_side_pool` gives such a pool: processes
started fresh (``spawn``: no forked copies of torch's thread pools), each with a share of the
torch threads, each ending within a second of its parent. Ctrl-C reaches every process of the
group, but a ``kill`` of the parent alone would otherwise leave its workers training into a run
directory beside whatever is started there next; a worker stopped this way loses only the steps
since its last checkpoint (written atomically).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import torch

__all__ = ["side_by_side_pool", "thread_share", "uses_cuda"]


def thread_share(jobs: int) -> int:
    """Torch threads for each of ``jobs`` processes sharing this process's threads (at least 1)."""
    return max(1, torch.get_num_threads() // jobs)


def uses_cuda(device: str) -> bool:
    """Whether a run with ``device`` (``auto`` included) would train on a CUDA GPU."""
    if device == "auto":
        return torch.cuda.is_available()
    return torch.device(device).type == "cuda"


@contextlib.contextmanager
def side_by_side_pool(jobs: int, threads: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``jobs`` spawned processes, each with ``threads`` torch threads, ending with this one.

    Leaving the block waits for the work submitted; leaving it on an error (Ctrl-C included)
    cancels what has not started and waits for what has, so work already running finishes and
    is kept.
    """
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), threads),
    )
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _start_worker(parent: int, threads: int) -> None:
    torch.set_num_threads(threads)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
