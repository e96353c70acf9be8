"""Run a study's cells: every arm trained (or reused) in order, resumable at any point.

A train arm's run goes through :func:`~earmark.training.crossval.train_or_reuse`: finished with
the same settings and labels, it is reused; unfinished, resumed from its last checkpoint; of other
settings, trained again. A pipeline arm runs its recipe, whose finished stages are skipped. So a
study killed at any point and started again loses nothing that was finished. Each run's process
CPU and wall seconds are added up in ``cpu.json`` beside it, over every session that worked on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from earmark.io import write_text_atomic
from earmark.pipeline.runner import run_pipeline
from earmark.study.config import StudyConfig
from earmark.study.plan import Cell, PlannedRun, cells, plan_cell, stages_needed
from earmark.training.crossval import finished_run, train_or_reuse

__all__ = ["StudyEvent", "read_cost", "run_study"]

#: ``on_event(what, run)``: ``what`` is ``"start"``, ``"reused"`` or ``"done"``.
StudyEvent = Callable[[str, PlannedRun], None]

COST_FILE = "cpu.json"


def run_study(
    study: StudyConfig,
    out: str | Path,
    *,
    seeds: tuple[int, ...] | None = None,
    on_event: StudyEvent | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> list[PlannedRun]:
    """Train every run of the study (or of ``seeds``), seed by seed; returns the runs in order.

    Several processes may share a study by taking different ``seeds``; each writes only its own
    runs. The study file in force is written to ``out/study.json``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "study.json", json.dumps(_as_json(study), indent=2, default=str))
    done: list[PlannedRun] = []
    for cell in cells(study, seeds=seeds):
        done += _run_cell(study, cell, out, on_event, on_step)
    return done


def _run_cell(
    study: StudyConfig,
    cell: Cell,
    out: Path,
    on_event: StudyEvent | None,
    on_step: Callable[[int, int], None] | None,
) -> list[PlannedRun]:
    planned = plan_cell(study, cell, out)
    pipelines_done: set[Path] = set()
    for run in planned:
        if run.pipeline_dir is not None and run.pipeline_dir in pipelines_done:
            _emit(on_event, "reused", run)
            continue
        if run.recipe is not None and run.pipeline_dir is not None:
            _emit(on_event, "start", run)
            scored = {str(r.arm.stage) for r in planned if r.pipeline_dir == run.pipeline_dir}
            clock = _StageClock(run.pipeline_dir)
            try:
                with _timed(run.pipeline_dir):
                    recipe = stages_needed(run.recipe, scored, run.pipeline_dir)
                    run_pipeline(recipe, out=run.pipeline_dir, on_event=clock)
            finally:
                clock.stop()
            pipelines_done.add(run.pipeline_dir)
            _emit(on_event, "done", run)
            continue
        assert run.config is not None
        if finished_run(run.config, run.run_dir):
            _emit(on_event, "reused", run)
            continue
        _emit(on_event, "start", run)
        with _timed(run.run_dir):
            train_or_reuse(run.config, run.run_dir, on_step=on_step)
        _emit(on_event, "done", run)
    return planned


class _StageClock:
    """Each pipeline stage's own CPU and wall seconds, added to ``cpu.json`` in its directory."""

    def __init__(self, pipeline_dir: Path) -> None:
        self.pipeline_dir = pipeline_dir
        self.running: _timed | None = None

    def __call__(self, event: str, stage: Any, info: Any) -> None:
        if event == "start":
            self.running = _timed(self.pipeline_dir / stage.name)
            self.running.__enter__()
        elif event == "done":
            self.stop()

    def stop(self) -> None:
        """Record the stage running now, if any (also when it failed or was interrupted)."""
        if self.running is not None:
            self.running.__exit__()
            self.running = None


class _timed:
    """Add this session's process CPU and wall seconds to ``folder/cpu.json`` (even on failure)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        before = read_cost(self.folder) or {"cpu_seconds": 0.0, "wall_seconds": 0.0, "sessions": 0}
        cost = {
            "cpu_seconds": before["cpu_seconds"] + time.process_time() - self.cpu,
            "wall_seconds": before["wall_seconds"] + time.perf_counter() - self.wall,
            "sessions": int(before.get("sessions", 0)) + 1,
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.folder / COST_FILE, json.dumps(cost, indent=2))


def read_cost(folder: Path) -> dict[str, float] | None:
    """The CPU and wall seconds recorded for a run or pipeline directory, or None."""
    path = folder / COST_FILE
    if not path.is_file():
        return None
    data: dict[str, float] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _emit(on_event: StudyEvent | None, what: str, run: PlannedRun) -> None:
    if on_event is not None:
        on_event(what, run)


def _as_json(study: StudyConfig) -> dict[str, Any]:
    from earmark.config import to_dict

    data: dict[str, Any] = to_dict(study)
    return data
