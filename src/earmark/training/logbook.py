"""A run's training log: ``metrics.jsonl`` and, when asked for, TensorBoard.

``metrics.jsonl`` holds one JSON row per logged step and per validation. The first training row
a run writes also carries its batch geometry (``world_size``, per-process ``batch_size``,
``global_batch_size``, ``steps_per_epoch``, ``total_steps``), which is logged at the start too.

Only the main process writes. A resumed run first drops the rows written after the checkpoint
it starts from, so the log never holds a step twice.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

from earmark.config import ConfigError
from earmark.io import write_text_atomic

__all__ = ["RunLog", "StepTiming", "read_log"]

logger = logging.getLogger(__name__)


class RunLog:
    """Appends rows to ``<run_dir>/metrics.jsonl`` (and TensorBoard scalars).

    Parameters
    ----------
    run_dir
        The run directory.
    enabled
        False on every process but the main one: nothing is written.
    tensorboard
        Also write each numeric value as a TensorBoard scalar ``<split>/<key>`` under
        ``<run_dir>/tensorboard`` (needs the ``tensorboard`` package).

    """

    def __init__(self, run_dir: Path, *, enabled: bool, tensorboard: bool = False) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.enabled = enabled
        self.tensorboard = _tensorboard_writer(run_dir) if tensorboard and enabled else None
        self._pending: dict[str, Any] = {}  # added to the next training row

    def announce(self, geometry: dict[str, int]) -> None:
        """Log the run's batch ``geometry`` now and add it to the next training row.

        ``geometry`` holds ``world_size``, ``batch_size`` (per process), ``global_batch_size``,
        ``steps_per_epoch`` and ``total_steps``.
        """
        if not self.enabled:
            return
        self._pending = dict(geometry)
        logger.info(
            "training on %d process(es): batch_size %d per process, global batch %d clips; "
            "%d steps per epoch, %d steps",
            geometry["world_size"],
            geometry["batch_size"],
            geometry["global_batch_size"],
            geometry["steps_per_epoch"],
            geometry["total_steps"],
        )

    def write(self, row: dict[str, Any]) -> None:
        """Append ``row`` (it has ``step`` and ``split``)."""
        if not self.enabled:
            return
        if self._pending and row.get("split") == "train":
            row, self._pending = {**row, **self._pending}, {}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        if self.tensorboard is not None:
            for key, value in row.items():
                if isinstance(value, float | int) and not isinstance(value, bool) and key != "step":
                    self.tensorboard.add_scalar(f"{row['split']}/{key}", value, row["step"])
            self.tensorboard.flush()

    def start(self) -> None:
        """A fresh run: remove any earlier log."""
        if self.enabled:
            self.path.unlink(missing_ok=True)

    def trim(self, step: int) -> None:
        """Drop rows written after ``step`` (a resumed run starts from that checkpoint)."""
        if self.enabled and self.path.exists():
            kept = [json.dumps(row) for row in self.rows() if row.get("step", 0) <= step]
            write_text_atomic(self.path, "".join(r + "\n" for r in kept))

    def rows(self) -> list[dict[str, Any]]:
        """Every row written so far."""
        if not self.path.exists():
            return []
        return read_log(self.path)


class StepTiming:
    """Seconds this process waited for batches and computed steps, and the clips it trained on."""

    def __init__(self) -> None:
        self.data_seconds = 0.0
        self.step_seconds = 0.0
        self.clips = 0

    def add(self, waited_from: float, computing_from: float, clips: int) -> float:
        """Count one step that waited from ``waited_from`` and computed from ``computing_from``.

        Returns the time now: the next step waits from here.
        """
        now = time.perf_counter()
        self.data_seconds += computing_from - waited_from
        self.step_seconds += now - computing_from
        self.clips += clips
        return now

    def as_dict(self) -> dict[str, float]:
        """The three counters, as the log rows carry them."""
        return {"data_seconds": self.data_seconds, "step_seconds": self.step_seconds, "clips": self.clips}

    def throughput(self) -> dict[str, float | None]:
        """The counters, clips per busy second and the share of it spent waiting for data."""
        busy = self.data_seconds + self.step_seconds
        return {
            **self.as_dict(),
            "clips_per_second": self.clips / busy if busy else None,
            "data_wait_share": self.data_seconds / busy if busy else None,
        }


def read_log(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl``; a torn last line (a run killed mid-write) is dropped.

    The dropped line is reported as a warning naming the file; a bad line anywhere else is a
    ``ValueError`` naming the file and the line number.
    """
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number < len(lines):
                raise ValueError(f"{path}, line {number}: not a JSON row ({error})") from error
            warnings.warn(f"{path}: dropped a torn last line ({len(line)} characters)", stacklevel=2)
    return rows


def _tensorboard_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ConfigError(
            "tensorboard: true needs the tensorboard package: pip install tensorboard"
        ) from error
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))
