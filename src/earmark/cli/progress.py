"""Progress of a long command: a rich bar on a terminal, plain lines a log file can read otherwise.

When standard output is a terminal, :class:`ProgressReport` draws rich's bar on the error
console, as before. When it is not (``earmark train ... > train.log``, CI), it prints one plain
line to standard output at the start, then at most one every ``every_seconds``, and one at the
end unless the last line showed it already::

    prepare: 120/814 clips (14.7 %), 23.1 clips/s, elapsed 0:00:05, ETA 0:00:30
    train: 200/1000 steps (20.0 %), 3.2 steps/s, elapsed 0:01:02, ETA 0:04:10, loss 0.3120

``quiet`` shows neither.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TextIO

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from earmark.cli.app import console

__all__ = ["DEFAULT_EVERY_SECONDS", "ProgressReport", "plain_line"]

#: Seconds between two plain progress lines.
DEFAULT_EVERY_SECONDS = 30.0


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def plain_line(
    what: str,
    completed: int,
    total: int | None,
    unit: str,
    elapsed_seconds: float,
    extras: Mapping[str, float | str] | None = None,
    seconds_left: float | None = None,
) -> str:
    """One progress line: done out of total, rate, elapsed and remaining time, then ``extras``.

    Parameters
    ----------
    what
        The task (``prepare``, ``train``).
    completed, total
        Units done and to do (``total`` None or 0 when unknown).
    unit
        What is counted (``clips``, ``steps``).
    elapsed_seconds
        Seconds since the task started.
    extras
        Named values appended in order (floats with 4 decimals).
    seconds_left
        A time budget's remaining seconds (``max_minutes``): the ETA is at most this.

    """
    parts = [
        f"{completed}/{total} {unit} ({100 * completed / total:.1f} %)" if total else f"{completed} {unit}"
    ]
    rate = completed / elapsed_seconds if elapsed_seconds > 0 else 0.0
    parts.append(f"{rate:.3g} {unit}/s")
    parts.append(f"elapsed {_clock(elapsed_seconds)}")
    if total and rate > 0 and completed < total:
        remaining = (total - completed) / rate
        parts.append(f"ETA {_clock(remaining if seconds_left is None else min(remaining, seconds_left))}")
    for name, value in (extras or {}).items():
        parts.append(f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}")
    return f"{what}: {', '.join(parts)}"


class ProgressReport:
    """Reports ``completed / total`` units of one task; a context manager.

    Parameters
    ----------
    what
        The task's name, first on every line.
    unit
        What is counted.
    quiet
        Report nothing.
    every_seconds
        Least seconds between two plain lines (0: a line at every update).
    terminal
        Draw the rich bar (default: when standard output is a terminal).
    clock
        Seconds from an arbitrary origin (tests pass their own).

    """

    def __init__(
        self,
        what: str,
        *,
        unit: str,
        quiet: bool = False,
        every_seconds: float = DEFAULT_EVERY_SECONDS,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if every_seconds < 0:
            raise ValueError(f"--progress-seconds must be >= 0, got {every_seconds}")
        self.what, self.unit, self.quiet, self.every_seconds = what, unit, quiet, every_seconds
        self.terminal = sys.stdout.isatty() if terminal is None else terminal
        self.clock = clock
        self.completed = 0
        self._updated = False  # no end line for a report never updated (folds trained elsewhere)
        self.total: int | None = None
        self.extras: dict[str, float | str] = {}
        self.seconds_left: float | None = None
        self._started = 0.0
        self._printed: float | None = None
        self._printed_completed: int | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressReport:
        self._started = self.clock()
        if self.quiet:
            return self
        if self.terminal:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.what, total=self.total)
        return self

    def update(
        self,
        completed: int,
        total: int | None = None,
        extras: Mapping[str, float | str] | None = None,
        seconds_left: float | None = None,
    ) -> None:
        """Set the units done (and the total, named values and a time budget's seconds left)."""
        self.completed, self._updated = completed, True
        if seconds_left is not None:
            self.seconds_left = max(0.0, seconds_left)
        if total is not None:
            self.total = total
        if extras:
            self.extras.update(extras)
        if self.quiet:
            return
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=completed, total=self.total)
            return
        now = self.clock()
        if self._printed is None or now - self._printed >= self.every_seconds:
            self._emit(now)

    def restart(self, started: float | None = None) -> None:
        """Count the next task of the same kind from zero (a cross-validation's next fold).

        Its rate, elapsed time and ETA then start at ``started`` (a reading of ``clock``; default
        now) instead of mixing in the last task's.
        """
        self._started = self.clock() if started is None else started
        self.completed, self.extras, self.seconds_left = 0, {}, None
        if self._bar is not None and self._task is not None:
            self._bar.reset(self._task)

    @property
    def elapsed_seconds(self) -> float:
        """Seconds since the task started (or restarted)."""
        return self.clock() - self._started

    def advance(self, units: int) -> None:
        """Add ``units`` to the units done."""
        self.update(self.completed + units)

    def note(self, text: str) -> None:
        """A message between progress lines (above the bar on a terminal)."""
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            self._write(text)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, trace)
        elif not self.quiet and kind is None and self._updated and self.completed != self._printed_completed:
            self._emit(self.clock())  # the end, unless the last line already showed it (or none was due)

    def _emit(self, now: float) -> None:
        self._printed, self._printed_completed = now, self.completed
        self._write(
            plain_line(
                self.what,
                self.completed,
                self.total,
                self.unit,
                now - self._started,
                self.extras,
                self.seconds_left,
            )
        )

    @staticmethod
    def _write(text: str) -> None:
        stream: TextIO = sys.stdout
        stream.write(text + "\n")
        stream.flush()
