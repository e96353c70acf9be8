"""How imperfect the study's training labels are, estimated from the baseline's held-out scores.

The report opens with it: before comparing remedies, a user should know how many labels are
missing (or wrong). The estimate needs scores of clips the model did not train on, with the
labels the user has for them. The baseline's *validation* clips are exactly that: each run
selects its checkpoint on them without training on them, and their labels are the study's
training labels (imperfect as the training clips' are). So, for each seed, the baseline's
``predictions/valid.npz`` and those clips' training labels go to
:func:`~earmark.audit.estimate_missing_rate` or :func:`~earmark.audit.estimate_noise_rate`.
A baseline without a validation split gives no estimate, and the report says so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from earmark.audit.rates import estimate_missing_rate, estimate_noise_rate
from earmark.data.table import read_labels
from earmark.pipeline.state import PipelineRun
from earmark.predictions import Predictions
from earmark.study.config import StudyConfig
from earmark.study.plan import PlannedRun, cells, plan_cell

__all__ = ["LabelQuality", "estimate_label_quality"]


@dataclasses.dataclass(frozen=True)
class LabelQuality:
    """One estimated rate per seed (each with its interval), or why there is none."""

    kind: str
    per_seed: dict[int, dict[str, Any]]
    note: str = ""

    def describe(self) -> str:
        """One paragraph for the report."""
        what = {
            "missing": "true positives missing from the training labels",
            "noise": "positive labels wrong",
        }[self.kind]
        if not self.per_seed:
            return f"Estimated share of {what}: not available ({self.note})."
        parts = [
            f"seed {seed}: {100 * e['rate']:.1f} % [{100 * e['low']:.1f}, {100 * e['high']:.1f}]"
            for seed, e in self.per_seed.items()
        ]
        first = next(iter(self.per_seed.values()))
        return (
            f"Estimated share of {what}: {'; '.join(parts)} ({first['method']}, from the baseline's "
            f"scores of its {first['n']} validation clips, which it did not train on; 95 % bootstrap "
            "interval over clips)."
        )


def estimate_label_quality(
    study: StudyConfig, out: str | Path, *, resamples: int = 1000
) -> LabelQuality | None:
    """The study's ``estimate`` (``missing`` or ``noise``) per seed, or None when it asks for none."""
    if study.estimate == "none":
        return None
    per_seed: dict[int, dict[str, Any]] = {}
    note = ""
    for cell in cells(study):
        if cell.seed in per_seed:
            continue
        run = next(r for r in plan_cell(study, cell, Path(out)) if r.arm.name == study.baseline)
        path = run.run_dir / "predictions" / "valid.npz"
        if not path.is_file():
            note = f"the baseline {study.baseline} has no validation predictions ({path})"
            continue
        predictions = Predictions.read(path)
        labels = read_labels(_training_labels(run)).select(clip_ids=predictions.clip_ids.tolist())
        scores = np.asarray(predictions.scores, dtype=np.float64)
        estimate = (
            estimate_missing_rate(labels, scores, resamples=resamples, seed=cell.seed)
            if study.estimate == "missing"
            else estimate_noise_rate(labels, scores, resamples=resamples, seed=cell.seed)
        )
        per_seed[cell.seed] = dataclasses.asdict(estimate)
    return LabelQuality(kind=study.estimate, per_seed=per_seed, note=note)


def _training_labels(run: PlannedRun) -> Path:
    """The labels the run trained on (a pipeline stage's: those of its ``labels_from`` stage)."""
    if run.config is not None:
        return run.config.data.label_table
    assert run.recipe is not None
    assert run.pipeline_dir is not None
    assert run.arm.stage is not None
    return PipelineRun(run.recipe, run.pipeline_dir).labels_path(run.recipe.stage(run.arm.stage))
