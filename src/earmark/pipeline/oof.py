"""Out-of-fold scoring and automatic blacklisting rounds.

:func:`out_of_fold_scores` splits the audited clips into K folds (stratified by class, groups
kept together) and trains K models with the one :class:`~earmark.training.trainer.Trainer`,
each on every training clip except one fold of the audited ones; each audited clip is scored
by the model that did not see its label. Fold runs go to ``run_dir/fold-<k>``; a finished one
(``summary.json``) is not trained again and an interrupted one resumes.

:func:`audit_rounds` is the iterative blacklist of the FSDKaggle2018 14th-place system without
the listening: score out of fold, rank the clips by how strongly the scores disagree with their
labels (:mod:`earmark.audit.noisy`), flag the most suspicious (by rank, by value, or by default
with confident learning's rule), blacklist them, repeat.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from earmark.audit.noisy import Method, clip_suspicion, confident_flags, suspected_noisy
from earmark.audit.table import AuditItem
from earmark.data.folds import assign_folds
from earmark.data.groups import group_keys
from earmark.data.labels import Labels
from earmark.data.table import write_labels
from earmark.pipeline.filters import flag_by_rank, flag_by_threshold
from earmark.predictions import Predictions
from earmark.training.config import DataConfig, TrainConfig

__all__ = ["AuditRound", "audit_rounds", "flag_clips", "out_of_fold_scores"]


def flag_clips(
    suspicion: np.ndarray,
    confident: np.ndarray,
    *,
    top: int | float | None = None,
    above: float | None = None,
) -> np.ndarray:
    """Flags by rank (``top``: a count or a share), by value (``above``), else ``confident``.

    ``confident`` is :func:`earmark.audit.noisy.confident_flags` of the same clips.
    """
    if top is not None:
        return flag_by_rank(suspicion, top=top)
    if above is not None:
        return flag_by_threshold(suspicion, minimum=above)
    return np.asarray(confident, dtype=bool)


def out_of_fold_scores(
    template: TrainConfig,
    train: Labels,
    audited: np.ndarray,
    *,
    folds: int,
    seed: int,
    run_dir: str | Path,
    groups: np.ndarray | None = None,
    on_fold: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Scores of the ``audited`` clips of ``train``, each from a model that never saw its label.

    Parameters
    ----------
    template : TrainConfig
        Model, strategy and schedule of the fold runs; its ``data.prepared`` gives the features.
        Its data selection, ``init_from`` and validation are replaced: fold models start from
        scratch and train for the configured length.
    train : Labels
        Every clip the fold models may train on.
    audited : (clips,) bool
        The clips to score (each fold model trains on all of ``train`` but one fold of these).
    folds : int
        The number of folds.
    seed : int
        Seeds the assignment of clips to folds.
    run_dir : path
        Where ``labels.csv`` (the fold of each clip; 0 = always trained on) and the fold runs go.
    groups : (clips,) keys, optional
        Clips with one key are kept in one fold.
    on_fold : callable, optional
        Called with ``(fold, folds)`` before each fold is trained.

    Returns
    -------
    (audited clips, classes) float32 probabilities, rows in ``train``'s order of the audited clips.

    """
    from earmark.training.crossval import train_or_reuse

    audited = np.asarray(audited, dtype=bool)
    if audited.shape != (train.num_clips,) or not audited.any():
        raise ValueError(f"out-of-fold scoring needs at least one audited clip among {train.num_clips}")
    run_dir = Path(run_dir)
    fold_of = assign_folds(
        train.positive[audited], folds=folds, seed=seed, groups=None if groups is None else groups[audited]
    )
    fold = np.zeros(train.num_clips, dtype=np.int64)
    fold[audited] = fold_of
    table = run_dir / "labels.csv"
    write_labels(dataclasses.replace(train, fold=fold), table)
    wanted = train.clip_ids[audited].tolist()
    scores: dict[str, np.ndarray] = {}
    for k in range(1, folds + 1):
        if on_fold is not None:
            on_fold(k, folds)
        data = DataConfig(prepared=template.data.prepared, labels=str(table), test_folds=(k,))
        config = dataclasses.replace(template, data=data, init_from=None, report=False, metric="lwlrap")
        fold_dir = run_dir / f"fold-{k}"
        train_or_reuse(config, fold_dir)
        predictions = Predictions.read(fold_dir / "predictions" / "test.npz")
        scores.update(zip(predictions.clip_ids.tolist(), predictions.scores, strict=True))
    return np.stack([scores[clip] for clip in wanted]).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class AuditRound:
    """One scoring round: the audited clips, their scores, the audit, and the clips flagged."""

    round: int
    labels: Labels
    scores: np.ndarray  # (clips, classes) out-of-fold probabilities
    suspicion: np.ndarray  # (clips,) clip suspicion
    flagged: np.ndarray  # (clips,) bool
    items: list[AuditItem]

    @property
    def flagged_clips(self) -> list[str]:
        """Ids of the flagged clips, most suspicious first."""
        rows = np.flatnonzero(self.flagged)
        return [str(c) for c in self.labels.clip_ids[rows[np.argsort(-self.suspicion[rows], kind="stable")]]]


def audit_rounds(
    template: TrainConfig,
    train: Labels,
    *,
    sources: Sequence[str],
    rounds: int,
    folds: int,
    seed: int,
    run_dir: str | Path,
    top: int | float | None = None,
    above: float | None = None,
    method: Method = "calibrated_margin",
    junk_below: float = 0.25,
    groups: str | None = None,
    first_scores: tuple[Labels, np.ndarray] | None = None,
    on_fold: Callable[[int, int, int], None] | None = None,
) -> list[AuditRound]:
    """``rounds`` rounds of out-of-fold scoring; the clips flagged in a round leave the next.

    The audited clips are those of ``sources`` with at least one positive. ``first_scores``
    (labels and out-of-fold scores of the audited clips, e.g. from a cross-validation) replaces
    the first round's training. Round ``r`` trains under ``run_dir/round-<r>``. ``on_fold`` is
    called with ``(round, fold, folds)``.
    """
    run_dir = Path(run_dir)
    current = train
    results: list[AuditRound] = []
    for number in range(1, rounds + 1):
        audited = np.isin(current.source, list(sources)) & current.positive.any(1)
        if number == 1 and first_scores is not None:
            part, scores = first_scores
        else:
            if not audited.any():
                raise ValueError(f"round {number}: no clip of sources {list(sources)} with a label is left")

            def report(k: int, total: int, number: int = number) -> None:
                if on_fold is not None:
                    on_fold(number, k, total)

            scores = out_of_fold_scores(
                template,
                current,
                audited,
                folds=folds,
                seed=seed + number - 1,
                run_dir=run_dir / f"round-{number}",
                groups=group_keys(current.clip_ids, groups),
                on_fold=report,
            )
            part = current.take(audited)
        suspicion = clip_suspicion(part.positive, scores, method=method, junk_below=junk_below)
        confident = confident_flags(part.positive, scores, junk_below=junk_below)
        flagged = flag_clips(suspicion, confident, top=top, above=above)
        items = suspected_noisy(part, scores, method=method, junk_below=junk_below)
        results.append(AuditRound(number, part, scores, suspicion, flagged, items))
        current = current.take(~np.isin(current.clip_ids, part.clip_ids[flagged]))
    return results
