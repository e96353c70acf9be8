"""A recipe bound to its output directory: each stage's directory and ``stage.json`` status.

The stages (:mod:`.execute`, :mod:`.filtering`) read and write through a :class:`PipelineRun`;
:mod:`.runner` decides which stages run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from earmark.errors import EarmarkError
from earmark.io import write_text_atomic
from earmark.pipeline.recipe import Recipe, Stage

__all__ = ["PipelineError", "PipelineRun"]


class PipelineError(EarmarkError):
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
