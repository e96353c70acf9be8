"""What the ``train``, ``select`` and ``relabel`` stages do (``filter`` is in :mod:`.filtering`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from earmark.data.edits import LabelEdit, apply_edits, read_edits, utc_now, write_edits
from earmark.data.labels import Labels
from earmark.data.table import read_labels, write_labels
from earmark.pipeline.filters import best_per_class
from earmark.pipeline.recipe import Stage
from earmark.pipeline.scoring import score_with_run
from earmark.pipeline.stages import RelabelStage, SelectStage, Split, Take, TrainStage
from earmark.pipeline.state import PipelineError, PipelineRun

__all__ = [
    "changed_entries",
    "run_relabel",
    "run_select",
    "run_train",
    "split_folds",
    "take_labels",
]


def changed_entries(before: Labels, after: Labels, *, who: str, why: str) -> list[LabelEdit]:
    """``add`` / ``remove`` edits for every positive that differs between two tables.

    Only clips present in both and labeled in ``after`` count (a clip that left the table or
    became unlabeled is not a label change).
    """
    row = {clip: i for i, clip in enumerate(before.clip_ids.tolist())}
    after = after.with_classes(before.class_names)
    now = utc_now()
    edits: list[LabelEdit] = []
    for j, clip in enumerate(after.clip_ids.tolist()):
        if clip not in row or after.source[j] == "unlabeled":
            continue
        old, new = before.positive[row[clip]], after.positive[j]
        for c in np.flatnonzero(old != new):
            name = before.class_names[c]
            edit = LabelEdit(clip, name, "add", who=who, why=why, time=now)
            edits.append(edit if new[c] else dataclasses.replace(edit, action="remove"))
    return edits


def _who(stage: Stage) -> str:
    return f"earmark pipeline, stage {stage.name}"


def _read_edit_files(paths: Sequence[str]) -> list[LabelEdit]:
    return [edit for path in paths for edit in read_edits(path)]


# ------------------------------------------------------------------------------------ train
def _check_curated(
    run: PipelineRun, stage: Stage, labels: Labels, labels_path: Path, data: Any, seed: int
) -> None:
    from earmark.training.selection import select_splits

    train = select_splits(labels, data, seed=seed)["train"]
    curated = train.take(train.source == "curated")
    if curated.num_clips == 0:
        return
    absent = [
        name for name, count in zip(labels.class_names, curated.positive.sum(0), strict=True) if not count
    ]
    if absent:
        raise PipelineError(
            f"{stage.where(run.recipe)}: the {curated.num_clips} curated clips of its training selection "
            f"({labels_path}) have no positive for class {absent[0]!r} ({len(absent)} classes lack one); "
            "every class needs curated clips (or set check_curated: false)"
        )


def run_train(run: PipelineRun, stage: Stage) -> dict[str, Any]:
    """Train one run into the stage directory; resumes an interrupted one."""
    from earmark.training.crossval import train_or_reuse

    options = cast(TrainStage, stage.options)
    directory = run.stage_dir(stage.name)
    labels_path = run.labels_path(stage)
    labels = read_labels(labels_path)
    if options.edits:
        edits = _read_edit_files(options.edits)
        labels, _ = apply_edits(labels, edits)
        labels_path = write_labels(labels, directory / "labels.csv")
        write_edits(directory / "edits.csv", edits)
    init = run.require(stage, "init_from", options.init_from) if options.init_from else None
    config = run.recipe.train_config(
        options.train, **{"data.labels": str(labels_path), "init_from": None if init is None else str(init)}
    )
    if options.check_curated:
        _check_curated(run, stage, labels, labels_path, config.data, config.seed)
    summary, _ = train_or_reuse(config, directory)
    return {key: summary.get(key) for key in ("steps", "best_valid", "valid", "test", "clips")}


# ------------------------------------------------------------------------------------ select
def run_select(run: PipelineRun, stage: Stage) -> dict[str, Any]:
    """Keep the best ``per_class`` single-label clips per class of the chosen sources."""
    options = cast(SelectStage, stage.options)
    labels = read_labels(run.labels_path(stage))
    pool = np.isin(labels.source, list(options.sources))
    if options.by == "duration":
        value = np.nan_to_num(labels.duration_seconds, nan=-np.inf)
    elif options.by == "random":
        value = np.random.default_rng(options.seed).random(labels.num_clips)
    else:
        model_dir = run.require(stage, "model_from", cast(str, options.model_from))
        value = np.full(labels.num_clips, -np.inf)
        part = labels.take(pool)
        scores = score_with_run(model_dir, run.recipe.prepared, part)
        value[pool] = np.where(part.positive, scores, -np.inf).max(1)
    chosen = best_per_class(labels.positive, value, per_class=options.per_class, eligible=pool)
    if not chosen.any():
        raise PipelineError(
            f"{stage.where(run.recipe)}: selects nothing: none of the {int(pool.sum())} clips of sources "
            f"{list(options.sources)} has exactly one label"
        )
    selected = labels.take(~pool | chosen)
    write_labels(selected, run.stage_dir(stage.name) / "labels.csv")
    per_class = dict(zip(labels.class_names, labels.positive[chosen].sum(0).tolist(), strict=True))
    return {"pool": int(pool.sum()), "selected": int(chosen.sum()), "per_class": per_class}


# ------------------------------------------------------------------------------------ relabel
def take_labels(labels: Labels, take: Take) -> tuple[Labels, dict[str, int]]:
    """``labels`` with the chosen clips' labels taken from ``take``'s table or loader."""
    if take.table is not None:
        other, what = read_labels(take.table), take.table
    else:
        from earmark.data.loaders import load_dataset

        layout = cast(str, take.layout)
        other, what = load_dataset(layout, take.options).labels, f"layout {layout}"
    foreign = [name for name in other.class_names if name not in labels.class_names]
    if foreign:
        raise ValueError(
            f"take: class {foreign[0]!r} of {what} is not among the {labels.num_classes} classes "
            "of the labels"
        )
    other = other.with_classes(labels.class_names)
    chosen = np.ones(labels.num_clips, dtype=bool)
    if take.folds:
        chosen &= np.isin(labels.fold, list(take.folds))
    if take.sources:
        chosen &= np.isin(labels.source, list(take.sources))
    kept = np.zeros(labels.num_clips, dtype=bool)
    rng = np.random.default_rng(take.seed)
    primary = np.where(labels.positive.any(1), labels.positive.argmax(1), -1)
    for c in range(labels.num_classes) if take.keep_per_class else ():
        rows = np.flatnonzero(chosen & (primary == c))
        kept[rng.permutation(rows)[: take.keep_per_class]] = True
    row_of = {clip: i for i, clip in enumerate(other.clip_ids.tolist())}
    replace = chosen & ~kept
    matched = replace & np.array([c in row_of for c in labels.clip_ids.tolist()], dtype=bool)
    rows = np.array([row_of[c] for c in labels.clip_ids[matched].tolist()], dtype=np.int64)
    positive, annotated, source = labels.positive.copy(), labels.annotated.copy(), labels.source.copy()
    positive[matched], annotated[matched] = other.positive[rows], other.annotated[rows]
    if take.source is not None:
        source[matched] = take.source
    result = dataclasses.replace(labels, positive=positive, annotated=annotated, source=source)
    unmatched = replace & ~matched
    if take.unmatched == "drop":
        result = result.take(~unmatched)
    counts = {"taken": int(matched.sum()), "kept": int(kept.sum()), "unmatched": int(unmatched.sum())}
    return result, counts


def split_folds(labels: Labels, split: Split) -> Labels:
    """``labels`` with the clips of ``split.sources`` dealt into folds in ``split.shares`` (seeded)."""
    rows = np.flatnonzero(np.isin(labels.source, list(split.sources)))
    if len(rows) < len(split.shares):
        raise ValueError(
            f"split: {len(rows)} clips of sources {list(split.sources)} cannot fill {len(split.shares)} folds"
        )
    order = rows[np.random.default_rng(split.seed).permutation(len(rows))]
    shares = np.asarray(split.shares, dtype=np.float64)
    ends = np.round(np.cumsum(shares) / shares.sum() * len(rows)).astype(int)
    fold = labels.fold.copy()
    for part, (begin, end) in enumerate(zip(np.concatenate([[0], ends[:-1]]), ends, strict=True)):
        fold[order[begin:end]] = split.first_fold + part
    return dataclasses.replace(labels, fold=fold)


def run_relabel(run: PipelineRun, stage: Stage) -> dict[str, Any]:
    """``take``, ``split``, then the edits; writes ``labels.csv`` and ``edits.csv``."""
    options = cast(RelabelStage, stage.options)
    directory = run.stage_dir(stage.name)
    labels = read_labels(run.labels_path(stage))
    summary: dict[str, Any] = {"clips_before": labels.num_clips}
    edits: list[LabelEdit] = []
    if options.take is not None:
        taken, summary["take"] = take_labels(labels, options.take)
        what = options.take.table or f"layout {options.take.layout}"
        edits += changed_entries(labels, taken, who=_who(stage), why=f"labels taken from {what}")
        labels = taken
    if options.split is not None:
        labels = split_folds(labels, options.split)
    applied = [
        edit
        for name in options.edits_from
        for edit in read_edits(run.require(stage, "edits_from", name) / "edits.csv")
    ] + _read_edit_files(options.edits)
    if applied:
        labels, report = apply_edits(labels, applied)
        summary["edits"] = report.as_dict()
        edits += applied
    write_labels(labels, directory / "labels.csv")
    write_edits(directory / "edits.csv", edits)
    summary["clips_after"] = labels.num_clips
    summary["clips_per_source"] = labels.summary().clips_per_source
    return summary
