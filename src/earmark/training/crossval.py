"""K-fold cross-validation: one run per held-out fold, then the mean and spread of each metric."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from earmark.data.table import read_labels
from earmark.io import write_text_atomic
from earmark.training.config import TrainConfig
from earmark.training.fingerprint import holds_a_run, read_fingerprint, run_fingerprint
from earmark.training.trainer import Trainer

__all__ = ["cross_validate", "finished_run", "train_or_reuse"]


def cross_validate(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    folds: Sequence[int] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    on_fold: Callable[[int, dict[str, Any]], None] | None = None,
    on_reuse: Callable[[int, str], None] | None = None,
    fold_config: Callable[[int, TrainConfig], TrainConfig] | None = None,
) -> dict[str, Any]:
    """Train with each fold as the test set and the others as training data.

    ``folds`` chooses which folds are held out in turn (default: every fold); each of those runs
    trains on every other fold present in the labels, so ``folds=[1, 2]`` runs the first two
    folds of the full cross-validation.

    Every fold's run goes to ``run_dir/fold-<k>`` (:func:`train_or_reuse`): a fold finished with
    these settings and labels is not trained again, so an interrupted cross-validation resumes,
    and an interrupted fold resumes from its last checkpoint; a fold trained with other settings
    is trained again (``on_reuse(fold, "retrained")``). Writes and returns ``cv_summary.json``.

    ``fold_config(fold, config)``, if given, turns each fold's config (its data selection set)
    into the one that fold trains with, e.g. the best of a search on the fold's training clips
    (:func:`earmark.tuning.nested.nested_cross_validate`); it must keep the data selection.
    """
    run_dir = Path(run_dir)
    labels = read_labels(config.data.label_table)
    present = sorted(int(f) for f in np.unique(labels.fold) if f >= 0)
    folds = list(folds) if folds else present
    absent = [f for f in folds if f not in present]
    if absent or not folds or len(present) < 2:
        raise ValueError(
            f"cross-validation needs at least two folds present in the labels and held-out folds "
            f"among them; asked {folds}, present {present}"
        )
    per_fold: dict[str, dict[str, float]] = {}
    for fold in folds:
        fold_dir = run_dir / f"fold-{fold}"
        data = dataclasses.replace(
            config.data,
            train_folds=tuple(f for f in present if f != fold),
            valid_folds=(),
            test_folds=(fold,),
        )
        fold_settings = dataclasses.replace(config, data=data)
        if fold_config is not None:
            fold_settings = fold_config(fold, fold_settings)
            if fold_settings.data.test_folds != (fold,) or fold_settings.data.train_folds != data.train_folds:
                raise ValueError(f"fold {fold}: fold_config changed the data selection of the fold")
        summary, how = train_or_reuse(fold_settings, fold_dir, on_step=on_step)
        if on_reuse is not None and how in ("reused", "retrained"):
            on_reuse(fold, how)
        per_fold[str(fold)] = summary["test"]
        if on_fold is not None:
            on_fold(fold, summary["test"])
    names = sorted(set.intersection(*(set(v) for v in per_fold.values())))
    result = {
        "folds": per_fold,
        "mean": {n: float(np.mean([v[n] for v in per_fold.values()])) for n in names},
        "std": {n: float(np.std([v[n] for v in per_fold.values()], ddof=1)) for n in names},
    }
    write_text_atomic(run_dir / "cv_summary.json", json.dumps(result, indent=2))
    return result


def train_or_reuse(
    config: TrainConfig, run_dir: Path, *, on_step: Callable[[int, int], None] | None = None
) -> tuple[dict[str, Any], str]:
    """The run of ``config`` in ``run_dir``: reused if finished, else resumed, trained or retrained.

    Returns the summary and what was done: ``"reused"`` (finished with the same fingerprint),
    ``"resumed"`` (unfinished, same fingerprint), ``"trained"`` (no run there) or ``"retrained"``
    (a run of other settings or labels, or one without a fingerprint, was there: overwritten).
    """
    fingerprint = run_fingerprint(config)
    recorded = read_fingerprint(run_dir)
    if _finished(run_dir, fingerprint, recorded):
        return json.loads((run_dir / "summary.json").read_text(encoding="utf-8")), "reused"
    trainer = Trainer(config, run_dir, on_step=on_step)
    if not holds_a_run(run_dir):
        return trainer.fit(), "trained"
    if recorded == fingerprint:
        return trainer.fit(resume=True), "resumed"
    return trainer.fit(overwrite=True), "retrained"


def finished_run(config: TrainConfig, run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a finished run of ``config`` (what :func:`train_or_reuse` reuses)."""
    return _finished(run_dir, run_fingerprint(config), read_fingerprint(run_dir))


def _finished(run_dir: Path, fingerprint: str, recorded: str | None) -> bool:
    return recorded == fingerprint and (run_dir / "summary.json").exists()
