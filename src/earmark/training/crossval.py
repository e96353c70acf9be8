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
from earmark.training.trainer import Trainer

__all__ = ["cross_validate"]


def cross_validate(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    folds: Sequence[int] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    on_fold: Callable[[int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train with each fold as the test set and the others as training data.

    ``folds`` chooses which folds are held out in turn (default: every fold); each of those runs
    trains on every other fold present in the labels, so ``folds=[1, 2]`` runs the first two
    folds of the full cross-validation.

    Every fold's run goes to ``run_dir/fold-<k>``; a fold whose run finished (it has
    ``summary.json``) is not trained again, so an interrupted cross-validation resumes, and an
    interrupted fold resumes from its last checkpoint. Writes and returns ``cv_summary.json``.
    """
    run_dir = Path(run_dir)
    labels = read_labels(config.data.labels or Path(config.data.prepared) / "labels.csv")
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
        summary_path = fold_dir / "summary.json"
        if summary_path.exists():
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        else:
            data = dataclasses.replace(
                config.data,
                train_folds=tuple(f for f in present if f != fold),
                valid_folds=(),
                test_folds=(fold,),
            )
            trainer = Trainer(dataclasses.replace(config, data=data), fold_dir, on_step=on_step)
            summary = trainer.fit(resume=(fold_dir / "checkpoints" / "last.pt").exists())
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
