"""Score a study's finished runs on the test split and compare each arm with the baseline.

For each arm and seed, the test predictions of the seed's runs (one per held-out fold, pooled)
are scored against the study's true labels, on their annotated entries. Each arm is then
compared with the baseline by a paired bootstrap over test clips of the seed-mean metric: the
same resampled clips for both arms and every seed, so the interval answers "does this arm beat
the baseline on these clips, averaged over seeds?".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from earmark.data.labels import Labels
from earmark.data.table import read_labels
from earmark.errors import EarmarkError
from earmark.metrics._common import UndefinedMetricError
from earmark.metrics.bootstrap import Metric, paired_bootstrap
from earmark.metrics.table import scalar_metric
from earmark.predictions import Predictions
from earmark.study.config import StudyConfig
from earmark.study.execute import read_cost
from earmark.study.plan import PlannedRun, cells, plan_cell, stages_needed

__all__ = ["ArmResult", "StudyIncomplete", "StudyResults", "collect", "seed_mean", "truth_path"]


class StudyIncomplete(EarmarkError):
    """A study has no finished run for an arm or seed it must compare."""


@dataclasses.dataclass(frozen=True)
class ArmResult:
    """One arm's figures.

    ``values``: metric -> one value per finished seed (in ``seeds`` order). ``cpu_seconds``,
    ``wall_seconds``: per finished seed, summed over its folds (a pipeline arm: its stage and
    every stage it uses, e.g. the warm-up before a fine-tuning stage). ``steps``: optimizer steps per
    seed, summed over folds. ``comparison``: the paired bootstrap against the baseline (absent for
    the baseline itself).
    """

    name: str
    seeds: tuple[int, ...]
    values: dict[str, list[float]]
    cpu_seconds: list[float | None]
    wall_seconds: list[float | None]
    steps: list[int | None]
    comparison: dict[str, Any] | None = None
    reference: bool = False


@dataclasses.dataclass(frozen=True)
class StudyResults:
    """Every arm's figures, the test clips they were scored on and what is missing."""

    metric: str
    baseline: str
    confidence: float
    num_test_clips: int
    arms: tuple[ArmResult, ...]
    missing_runs: tuple[str, ...]

    def arm(self, name: str) -> ArmResult:
        """The result of arm ``name``."""
        return next(a for a in self.arms if a.name == name)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return dataclasses.asdict(self)


def truth_path(study: StudyConfig) -> Path:
    """The labels test predictions are scored against: ``truth``, else the prepared directory's."""
    if study.truth:
        return Path(study.truth)
    prepared = (study.train.get("data") or {}).get("prepared")
    if prepared is None and study.base:
        from earmark.config import load_yaml

        prepared = (load_yaml(study.base).get("data") or {}).get("prepared")
    if prepared is None:
        raise EarmarkError("the study names no truth: and no data.prepared to take labels.csv from")
    return Path(prepared) / "labels.csv"


def collect(study: StudyConfig, out: str | Path, *, rng: np.random.Generator | None = None) -> StudyResults:
    """Score every finished run under ``out`` and compare each arm with the baseline.

    A seed counts for an arm when all its folds have test predictions; the bootstrap uses the
    seeds both the arm and the baseline finished. ``missing_runs`` lists the runs not finished.
    """
    out = Path(out)
    rng = np.random.default_rng(0) if rng is None else rng
    truth = read_labels(truth_path(study))
    runs: dict[tuple[str, int], list[PlannedRun]] = {}
    for cell in cells(study):
        for run in plan_cell(study, cell, out):
            runs.setdefault((run.arm.name, cell.seed), []).append(run)
    scores: dict[str, dict[int, np.ndarray]] = {arm.name: {} for arm in study.arms}
    missing: list[str] = []
    clip_order: np.ndarray | None = None
    for (name, seed), seed_runs in runs.items():
        absent = [r for r in seed_runs if not (r.run_dir / "predictions" / "test.npz").is_file()]
        if absent:
            missing += [f"{name} {r.cell.name}" for r in absent]
            continue
        ids, matrix = _pooled(seed_runs, truth)
        if clip_order is None:
            clip_order = ids
        elif set(ids.tolist()) != set(clip_order.tolist()):
            raise EarmarkError(f"arm {name}, seed {seed}: tested on other clips than the arms before it")
        order = {c: i for i, c in enumerate(ids.tolist())}
        scores[name][seed] = matrix[[order[c] for c in clip_order.tolist()]]
    if clip_order is None:
        raise StudyIncomplete(f"no run of the study under {out} has finished: nothing to compare")
    test = truth.select(clip_ids=clip_order.tolist())
    arms = tuple(_arm_result(study, name, scores, runs, test, rng) for name in scores)
    return StudyResults(
        metric=study.metric,
        baseline=study.baseline,
        confidence=study.confidence,
        num_test_clips=int(test.num_clips),
        arms=arms,
        missing_runs=tuple(missing),
    )


def _pooled(seed_runs: list[PlannedRun], truth: Labels) -> tuple[np.ndarray, np.ndarray]:
    """The test clip ids and scores of one arm and seed, over its folds, checked against ``truth``."""
    ids, blocks = [], []
    for run in seed_runs:
        predictions = Predictions.read(run.run_dir / "predictions" / "test.npz")
        if list(predictions.class_names) != list(truth.class_names):
            raise EarmarkError(
                f"{run.run_dir}: its classes differ from the truth labels' ({len(predictions.class_names)} "
                f"vs {len(truth.class_names)}); score a study against labels of the same vocabulary"
            )
        ids.append(np.asarray(predictions.clip_ids))
        blocks.append(np.asarray(predictions.scores, dtype=np.float64))
    clip_ids = np.concatenate(ids)
    unknown = sorted(set(clip_ids.tolist()) - set(truth.clip_ids.tolist()))
    if unknown:
        raise EarmarkError(f"test clips not in the truth labels: {', '.join(unknown[:5])}")
    if len(set(clip_ids.tolist())) != len(clip_ids):
        raise EarmarkError(f"{seed_runs[0].arm.name}: a test clip appears in two folds' predictions")
    return clip_ids, np.concatenate(blocks)


def _arm_result(
    study: StudyConfig,
    name: str,
    scores: Mapping[str, Mapping[int, np.ndarray]],
    runs: Mapping[tuple[str, int], list[PlannedRun]],
    test: Labels,
    rng: np.random.Generator,
) -> ArmResult:
    seeds = tuple(s for s in study.seeds if s in scores[name])
    mask = test.annotated if study.truth_missing == "skip" else np.ones_like(test.annotated)
    values = {
        metric: [
            _score(metric, test.positive, scores[name][s], mask, where=f"arm {name}, seed {s}") for s in seeds
        ]
        for metric in study.reported_metrics
    }
    cpu: list[float | None] = []
    wall: list[float | None] = []
    steps: list[int | None] = []
    for seed in seeds:
        costs = [cost for r in runs[(name, seed)] for cost in _costs(r)]
        known = [c for c in costs if c is not None]
        whole = len(known) == len(costs)
        cpu.append(sum(c["cpu_seconds"] for c in known) if whole else None)
        wall.append(sum(c["wall_seconds"] for c in known) if whole else None)
        steps.append(_steps(runs[(name, seed)]))
    comparison = None
    shared = [s for s in seeds if s in scores[study.baseline]]
    if name != study.baseline and shared:
        both = paired_bootstrap(
            seed_mean(scalar_metric(study.metric), len(shared)),
            np.tile(test.positive, (1, len(shared))),
            np.hstack([scores[study.baseline][s] for s in shared]),
            np.hstack([scores[name][s] for s in shared]),
            mask=np.tile(mask, (1, len(shared))),
            rng=rng,
            num_resamples=study.resamples,
            confidence=study.confidence,
        )
        comparison = {**both.as_dict(), "seeds": list(shared)}
    return ArmResult(
        reference=study.arm(name).reference,
        name=name,
        seeds=seeds,
        values=values,
        cpu_seconds=cpu,
        wall_seconds=wall,
        steps=steps,
        comparison=comparison,
    )


def _costs(run: PlannedRun) -> list[dict[str, float] | None]:
    """A run's recorded seconds: a train arm's own; a pipeline arm's stage and the stages it uses."""
    if run.recipe is None or run.pipeline_dir is None:
        return [read_cost(run.run_dir)]
    used = stages_needed(run.recipe, {str(run.arm.stage)}, run.pipeline_dir).stages
    return [read_cost(run.pipeline_dir / stage.name) for stage in used]


def _score(metric: str, y_true: np.ndarray, scores: np.ndarray, mask: np.ndarray, *, where: str) -> float:
    try:
        return float(scalar_metric(metric)(y_true, scores, mask=mask))
    except UndefinedMetricError as error:
        hint = (
            " (every known test entry is a positive: for positives-only truth such as AudioSet's, set "
            "truth_missing: negative)"
            if bool(y_true[mask].all())
            else ""
        )
        raise EarmarkError(f"{where}: {metric} is undefined on the test split: {error}{hint}") from error


def _steps(seed_runs: list[PlannedRun]) -> int | None:
    import json

    total = 0
    for run in seed_runs:
        path = run.run_dir / "summary.json"
        if not path.is_file():
            return None
        steps = json.loads(path.read_text(encoding="utf-8")).get("steps")
        if steps is None:
            return None
        total += int(steps)
    return total


def seed_mean(metric: Metric, seeds: int) -> Metric:
    """The mean over ``seeds`` of ``metric``, on every seed's columns stacked along the class axis.

    A paired bootstrap of this function over clips resamples the same clips for every seed.
    """

    def averaged(y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None) -> float:
        classes = y_true.shape[1] // seeds
        parts = [slice(k * classes, (k + 1) * classes) for k in range(seeds)]
        return float(
            np.mean(
                [metric(y_true[:, p], scores[:, p], mask=None if mask is None else mask[:, p]) for p in parts]
            )
        )

    return averaged
