"""K-fold cross-validation: one run per held-out fold, then the mean and spread of each metric."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from earmark.data.table import read_labels
from earmark.io import write_text_atomic
from earmark.training.config import TrainConfig
from earmark.training.fingerprint import holds_a_run, read_fingerprint, run_fingerprint
from earmark.training.processes import side_by_side_pool, thread_share, uses_cuda
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
    jobs: int = 1,
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

    ``jobs > 1`` trains that many folds at once on the CPU, each in its own process with
    ``torch.get_num_threads() // jobs`` threads (at least one): a narrow model keeps one core
    busier than it keeps several, so folds side by side train more clips per second than one
    fold on every core (``benchmarks/RESULTS.md``). Folds left over after whole rounds of
    ``jobs`` share all the threads between them, so no core idles at the end. ``on_step`` is not called then;
    ``on_fold`` and ``on_reuse`` are, as each fold ends. Not with ``fold_config`` (a nested
    search runs its folds one at a time), nor on a GPU (run one fold per device with ``folds``).
    """
    run_dir = Path(run_dir)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs > 1 and fold_config is not None:
        raise ValueError("jobs > 1 is for plain cross-validation; a nested search runs one fold at a time")
    if jobs > 1 and uses_cuda(config.device):
        raise ValueError(
            f"jobs > 1 trains folds side by side on the CPU, but device {config.device!r} is a GPU; "
            "run one fold per GPU instead (folds=[k] with CUDA_VISIBLE_DEVICES)"
        )
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

    def record(fold: int, summary: dict[str, Any], how: str) -> None:
        if on_reuse is not None and how in ("reused", "retrained"):
            on_reuse(fold, how)
        per_fold[str(fold)] = summary["test"]
        if on_fold is not None:
            on_fold(fold, summary["test"])

    def settings_of(fold: int) -> TrainConfig:
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
        return fold_settings

    if jobs == 1:
        for fold in folds:
            record(fold, *train_or_reuse(settings_of(fold), run_dir / f"fold-{fold}", on_step=on_step))
    else:
        # whole rounds of `jobs` folds first, then the last few share all the threads between them
        # (5 folds, 2 jobs: four folds two at a time on one thread each, then the fifth on two)
        whole = len(folds) - len(folds) % jobs
        for chunk, workers in ((folds[:whole], jobs), (folds[whole:], len(folds) - whole)):
            if chunk:
                _train_side_by_side({fold: settings_of(fold) for fold in chunk}, run_dir, workers, record)
        per_fold = {str(fold): per_fold[str(fold)] for fold in folds}  # in fold order
    names = sorted(set.intersection(*(set(v) for v in per_fold.values())))
    result = {
        "folds": per_fold,
        "mean": {n: float(np.mean([v[n] for v in per_fold.values()])) for n in names},
        "std": {n: float(np.std([v[n] for v in per_fold.values()], ddof=1)) for n in names},
    }
    write_text_atomic(run_dir / "cv_summary.json", json.dumps(result, indent=2))
    return result


def _train_side_by_side(
    settings: dict[int, TrainConfig],
    run_dir: Path,
    jobs: int,
    record: Callable[[int, dict[str, Any], str], None],
) -> None:
    """Each fold's :func:`train_or_reuse` in a pool of ``jobs`` processes; ``record`` as each ends."""
    with side_by_side_pool(jobs, thread_share(jobs)) as pool:  # on an error, running folds finish
        running: dict[Future[tuple[dict[str, Any], str]], int] = {
            pool.submit(train_or_reuse, fold_settings, run_dir / f"fold-{fold}"): fold
            for fold, fold_settings in settings.items()
        }
        for done in as_completed(running):
            record(running[done], *done.result())


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
