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

import dataclasses
import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from earmark.config import ConfigError
from earmark.io import write_text_atomic
from earmark.pipeline.recipe import Recipe, Stage

__all__ = ["PipelineError", "PipelineRun", "run_pipeline"]

Event = Callable[[str, Stage, dict[str, Any]], None]


class PipelineError(ValueError):
    """A stage cannot run: the message names the stage, the recipe file and line."""


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    """A recipe bound to its output directory: where stages write and what they have done."""

    recipe: Recipe
    out: Path

    def stage_dir(self, name: str) -> Path:
        """The run directory of stage ``name``."""
        return self.out / name

    def status(self, name: str) -> dict[str, Any] | None:
        """The ``stage.json`` of stage ``name``, or None when it never started."""
        path = self.stage_dir(name) / "stage.json"
        if not path.is_file():
            return None
        status: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return status

    def write_status(self, stage: Stage, **fields: Any) -> None:
        """Update stage ``stage``'s ``stage.json`` atomically."""
        status = {**(self.status(stage.name) or {}), "name": stage.name, "kind": stage.kind, **fields}
        write_text_atomic(
            self.stage_dir(stage.name) / "stage.json", json.dumps(status, indent=2, default=str)
        )

    def definition(self, stage: Stage) -> str:
        """A fingerprint of what the stage does.

        It covers the stage's own entry, the recipe's shared settings and which finished run of
        each stage it uses.
        """
        recipe = self.recipe
        payload = {
            "stage": stage.definition,
            "prepared": recipe.prepared,
            "labels": recipe.labels,
            "train": recipe.train if stage.kind in ("train", "filter") else None,
            "inputs": {
                name: (self.status(name) or {}).get("run_id") for _, name in stage.options.referenced()
            },
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def require(self, stage: Stage, field: str, other: str) -> Path:
        """The directory of ``other`` (named by ``stage``'s ``field``), which must have finished."""
        status = self.status(other)
        where = stage.where(self.recipe)
        if status is None or status.get("status") != "done":
            state = "failed" if status and status.get("status") == "failed" else "has not finished"
            detail = f": {status.get('error')}" if status and status.get("error") else ""
            raise PipelineError(
                f"{where}: {field} refers to stage {other!r}, which {state}{detail}; run "
                f"`earmark pipeline {self.recipe.source} --from {other}` first"
            )
        return self.stage_dir(other)

    def base_labels(self) -> Path:
        """The label table stages start from: the recipe's ``labels`` or the prepared one."""
        return Path(self.recipe.labels) if self.recipe.labels else Path(self.recipe.prepared) / "labels.csv"

    def labels_path(self, stage: Stage) -> Path:
        """The label table ``stage`` reads: its ``labels_from`` stage's, else the base one."""
        other = stage.options.labels_from
        if other is None:
            return self.base_labels()
        return self.require(stage, "labels_from", other) / "labels.csv"


def _clear(directory: Path) -> None:
    """Remove a stage directory written by an earlier run (only one holding a stage.json)."""
    if not directory.exists():
        return
    if not (directory / "stage.json").is_file() and any(directory.iterdir()):
        raise PipelineError(f"{directory} exists and is not a pipeline stage directory; move it away first")
    shutil.rmtree(directory)


def _execute(run: PipelineRun, stage: Stage) -> dict[str, Any]:
    from earmark.pipeline.execute import run_relabel, run_select, run_train
    from earmark.pipeline.filtering import run_filter

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
    run.out.mkdir(parents=True, exist_ok=True)
    (run.out / "pipeline.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return results
