"""``earmark audit noisy`` on a finished run: out-of-fold scores, the ranking, blacklist rounds.

The run is either a cross-validation directory (``earmark cv``: ``fold-<k>/`` runs whose test
predictions are already out of fold for every clip) or a training run, whose training clips are
then scored by K new fold models trained with its config (under ``<run>/audit_noisy/``). With
``rounds`` ≥ 1, the clips flagged in each round are blacklisted and the rest scored again
(needing new fold models, for a cross-validation too); the blacklisting is returned as label
edits, ready for ``earmark prepare --edits``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from earmark.audit.noisy import Method
from earmark.config import from_dict, load_yaml
from earmark.data.edits import LabelEdit, utc_now
from earmark.data.labels import Labels
from earmark.data.table import read_labels
from earmark.pipeline.oof import AuditRound, audit_rounds
from earmark.predictions import Predictions
from earmark.training.config import DataConfig, TrainConfig

__all__ = ["NoisyAudit", "audit_noisy_run", "run_training_clips"]


@dataclasses.dataclass(frozen=True)
class NoisyAudit:
    """The rounds of an audit and the blacklist edits they made (none without rounds)."""

    rounds: list[AuditRound]
    edits: list[LabelEdit]


def _fold_runs(run_dir: Path) -> list[Path]:
    return sorted(
        (p for p in run_dir.glob("fold-*") if (p / "predictions" / "test.npz").is_file()),
        key=lambda p: p.name,
    )


def run_training_clips(run_dir: str | Path) -> tuple[TrainConfig, Labels, tuple[Labels, np.ndarray] | None]:
    """The config to train fold models with, the clips they may train on, and known OOF scores.

    For a cross-validation directory: the first fold's config without its fold selection, every
    clip of the folds, and the folds' test predictions. For a training run: its config, its
    training split, and None.
    """
    from earmark.training.selection import select_splits

    run_dir = Path(run_dir)
    folds = _fold_runs(run_dir) if not (run_dir / "config.yaml").is_file() else []
    if folds:
        config = from_dict(TrainConfig, load_yaml(folds[0] / "config.yaml"))
        labels = read_labels(config.data.label_table)
        predictions = [Predictions.read(p / "predictions" / "test.npz") for p in folds]
        clip_ids = np.concatenate([p.clip_ids for p in predictions])
        scores = np.concatenate([p.scores for p in predictions])
        train = labels.select(clip_ids=clip_ids.tolist())
        data = dataclasses.replace(config.data, train_folds=(), valid_folds=(), test_folds=())
        return dataclasses.replace(config, data=data), train, (train, scores)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(
            f"{run_dir} is neither a training run (no config.yaml) nor a cross-validation (no fold-*/ runs "
            "with predictions/test.npz)"
        )
    config = from_dict(TrainConfig, load_yaml(run_dir / "config.yaml"))
    labels = read_labels(config.data.label_table)
    train = select_splits(labels, config.data, seed=config.seed)["train"]
    return dataclasses.replace(config, data=DataConfig(prepared=config.data.prepared)), train, None


def audit_noisy_run(
    run_dir: str | Path,
    *,
    rounds: int = 0,
    folds: int = 5,
    seed: int = 0,
    sources: Sequence[str] = ("curated", "noisy"),
    top: int | float | None = None,
    above: float | None = None,
    method: Method = "calibrated_margin",
    junk_below: float = 0.25,
    work_dir: str | Path | None = None,
    on_fold: Callable[[int, int, int], None] | None = None,
) -> NoisyAudit:
    """Audit the training clips of ``run_dir``; ``rounds`` ≥ 1 blacklists flagged clips round by round.

    Parameters
    ----------
    run_dir : path
        A training run or a cross-validation directory.
    rounds : int
        0 audits once; N ≥ 1 runs N rounds, each blacklisting the clips it flags.
    folds : int
        Out-of-fold folds (when fold models are trained).
    seed : int
        Seeds the assignment of clips to folds.
    sources : sequence of str
        The sources whose clips are audited (the others always train).
    top, above : optional
        Which clips a round flags: the ``top`` most suspicious (a count or a share), or those
        whose suspicion is above ``above``; by default the clips of
        :func:`earmark.audit.noisy.confident_flags`.
    method : str
        See :func:`earmark.audit.noisy.suspected_noisy`.
    junk_below : float
        See :func:`earmark.audit.noisy.suspected_noisy`.
    work_dir : path, optional
        Where fold models go (default ``<run_dir>/audit_noisy``).
    on_fold : callable, optional
        Called with ``(round, fold, folds)`` before each fold model is trained.

    Returns
    -------
    NoisyAudit
        Every round (the last one's items are the audit) and the blacklist edits.

    """
    if rounds < 0:
        raise ValueError(f"--rounds must be >= 0, got {rounds}")
    template, train, known = run_training_clips(run_dir)
    if known is not None:
        audited = np.isin(known[0].source, list(sources)) & known[0].positive.any(1)
        known = (known[0].take(audited), known[1][audited])
    results = audit_rounds(
        template,
        train,
        sources=sources,
        rounds=max(rounds, 1),
        folds=folds,
        seed=seed,
        run_dir=Path(work_dir) if work_dir is not None else Path(run_dir) / "audit_noisy",
        top=top,
        above=above,
        method=method,
        junk_below=junk_below,
        first_scores=known,
        on_fold=on_fold,
    )
    now = utc_now()
    edits = [
        LabelEdit(
            clip,
            "",
            "blacklist",
            who="earmark audit noisy",
            why=f"round {result.round}: out-of-fold scores disagree with the labels ({method})",
            time=now,
        )
        for result in (results if rounds else [])
        for clip in result.flagged_clips
    ]
    return NoisyAudit(results, edits)
