"""Running a recipe: stage after stage, each into its own run directory, resumable.

Each stage writes ``<out>/<stage name>/`` with a ``stage.json`` holding its status (``running``,
``done`` or ``failed``), a fingerprint of its definition, its summary and, on failure, the error.
Run the pipeline again and every stage that is ``done`` with an unchanged definition and
unchanged inputs is skipped; an interrupted training stage resumes from its last checkpoint; a
stage whose definition changed, or that failed, is run again from scratch. Every finished run of
a stage gets a new ``run_id``, and a stage's fingerprint holds the ``run_id`` of each stage it
uses (``labels_from``, ``init_from``, ...), so a stage that ran again makes the stages built on it
run again too, never leaving them on its old output. ``start`` (``--from``) runs a stage and
every later one again (earlier stages as usual: skipped when done); ``only`` (``--only``) runs
one stage again alone. A stage that needs an
earlier one that failed or never finished stops with both named.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from earmark.config import ConfigError
from earmark.io import write_text_atomic
from earmark.pipeline.execute import run_relabel, run_select, run_train
from earmark.pipeline.filtering import run_filter
from earmark.pipeline.recipe import Recipe, Stage
from earmark.pipeline.state import PipelineError, PipelineRun

__all__ = ["PipelineError", "PipelineRun", "run_pipeline"]

Event = Callable[[str, Stage, dict[str, Any]], None]


def _clear(directory: Path) -> None:
    """Remove a stage directory written by an earlier run (only one holding a stage.json)."""
    if not directory.exists():
        return
    if not (directory / "stage.json").is_file() and any(directory.iterdir()):
        raise PipelineError(f"{directory} exists and is not a pipeline stage directory; move it away first")
    shutil.rmtree(directory)


def _execute(run: PipelineRun, stage: Stage) -> dict[str, Any]:
    runners = {"train": run_train, "select": run_select, "filter": run_filter, "relabel": run_relabel}
    return runners[stage.kind](run, stage)


def run_pipeline(
    recipe: Recipe,
    *,
    out: str | Path | None = None,
    start: str | None = None,
    only: str | None = None,
    on_event: Event | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the recipe's stages in order; returns each stage's ``stage.json`` content.

    ``start``: run this stage and every later one again, even if done (the earlier ones as
    usual). ``only``: run this one
    stage again, alone. ``on_event(event, stage, info)`` is called with ``"skip"``, ``"start"`` and
    ``"done"``. A failing stage is marked ``failed`` and raises :class:`PipelineError`.
    """
    if start is not None and only is not None:
        raise ConfigError("give --from or --only, not both")
    run = PipelineRun(recipe, Path(out) if out is not None else Path(recipe.out))
    first = recipe.index(start) if start is not None else None
    if only is not None:
        recipe.stage(only)
    results: dict[str, dict[str, Any]] = {}
    for position, stage in enumerate(recipe.stages):
        if only is not None and stage.name != only:
            results[stage.name] = run.status(stage.name) or {"status": "not run"}
            continue
        forced = only == stage.name or (first is not None and position >= first)
        status = run.status(stage.name) or {}
        definition = run.definition(stage)
        same = status.get("definition") == definition
        if not forced and same and status.get("status") == "done":
            if on_event:
                on_event("skip", stage, status)
            results[stage.name] = status
            continue
        if forced or not same or status.get("status") == "failed":
            _clear(run.stage_dir(stage.name))
        if on_event:
            on_event("start", stage, {})
        started = time.perf_counter()
        run.write_status(stage, status="running", definition=definition, error=None)
        try:
            summary = _execute(run, stage)
        except Exception as error:
            message = str(error) if isinstance(error, PipelineError) else f"{stage.where(recipe)}: {error}"
            run.write_status(stage, status="failed", error=message, seconds=time.perf_counter() - started)
            if isinstance(error, PipelineError):
                raise
            raise PipelineError(message) from error
        run.write_status(
            stage,
            status="done",
            summary=summary,
            seconds=round(time.perf_counter() - started, 1),
            run_id=uuid.uuid4().hex[:16],
        )
        results[stage.name] = run.status(stage.name) or {}
        if on_event:
            on_event("done", stage, results[stage.name])
    write_text_atomic(run.out / "pipeline.json", json.dumps(results, indent=2, default=str))
    return results
