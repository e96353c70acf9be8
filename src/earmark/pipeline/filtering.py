"""The ``filter`` stage: score the noisy clips, keep the labels the model agrees with.

Scores come from a trained stage (``model_from``; in the FSDKaggle2019 system the stage-1 model
fine-tuned on curated data) or out of fold (``out_of_fold``: K models, none of which saw the
scored clip's label). Then, over the labeled clips of ``sources``:

* ``rule: top_k`` / ``threshold``: a clip is kept when a label passes (labels reduced to those
  that pass, unless ``reduce_labels: false``);
* ``rule: rank``: the clips most suspected by the audit of :mod:`earmark.audit.noisy` are flagged;
  with ``rounds`` > 1 the flagged clips are blacklisted and the rest scored again.

Rejected clips become ``unlabeled`` (still used by a semi-supervised stage) or are blacklisted.
The stage writes ``labels.csv``, ``edits.csv``, ``audit.csv`` (the audit ranking of the scored
clips, for review), ``scores.npz`` and ``filter.json``.

``edits.csv`` records every change the stage made, one label edit each, ``who`` the stage and
``why`` the rule that decided it: ``remove`` for a label dropped from a kept clip (e.g. "not in
stage1's top 5"), ``unlabel`` or ``blacklist`` for a rejected clip (e.g. "no label in stage1's
top 5"). Applying it to the stage's input labels (:func:`earmark.data.edits.apply_edits`) gives
its ``labels.csv`` exactly; labels it kept are not edits.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, cast

import numpy as np

from earmark.audit.noisy import Method, clip_suspicion, confident_flags, suspected_noisy
from earmark.audit.table import write_audit
from earmark.data.edits import Action, LabelEdit, utc_now, write_edits
from earmark.data.labels import Labels
from earmark.data.table import read_labels, write_labels
from earmark.io import write_text_atomic
from earmark.pipeline.filters import per_class_thresholds, threshold_agreement, top_k_agreement
from earmark.pipeline.oof import AuditRound, audit_rounds, flag_clips
from earmark.pipeline.recipe import Stage
from earmark.pipeline.scoring import score_with_run
from earmark.pipeline.stages import FilterStage, OutOfFold
from earmark.pipeline.state import PipelineError, PipelineRun
from earmark.predictions import Predictions

__all__ = ["run_filter"]


def _rounds(run: PipelineRun, stage: Stage, labels: Labels, pool: np.ndarray) -> list[AuditRound]:
    options = cast(FilterStage, stage.options)
    method: Method = options.method  # type: ignore[assignment]  # checked by FilterStage
    if options.model_from is not None:
        part = labels.take(pool)
        scores = score_with_run(
            run.require(stage, "model_from", options.model_from), run.recipe.prepared, part
        )
        suspicion = clip_suspicion(part.positive, scores, method=method, junk_below=options.junk_below)
        confident = confident_flags(part.positive, scores, junk_below=options.junk_below)
        flagged = flag_clips(suspicion, confident, top=options.flag_top, above=options.flag_above)
        items = suspected_noisy(part, scores, method=method, junk_below=options.junk_below)
        return [AuditRound(1, part, scores, suspicion, flagged, items)]
    from earmark.training.selection import select_splits

    oof = cast(OutOfFold, options.out_of_fold)
    template = run.recipe.train_config(oof.train, **{"data.labels": str(run.labels_path(stage))})
    train = select_splits(labels, template.data, seed=template.seed)["train"]
    outside = np.setdiff1d(labels.clip_ids[pool], train.clip_ids)
    if len(outside):
        raise PipelineError(
            f"{stage.where(run.recipe)}: {len(outside)} clips of sources {list(options.sources)} are outside "
            f"the training selection of out_of_fold (e.g. {outside[0]!r}); check out_of_fold.train.data"
        )
    return audit_rounds(
        template,
        train,
        sources=options.sources,
        rounds=options.rounds,
        folds=oof.folds,
        seed=oof.seed,
        run_dir=run.stage_dir(stage.name) / "oof",
        top=options.flag_top,
        above=options.flag_above,
        method=method,
        junk_below=options.junk_below,
        groups=oof.groups,
    )


def _limits(options: FilterStage, first: AuditRound) -> np.ndarray:
    """The per-class thresholds of rule ``threshold``, ``(classes,)``."""
    positive = first.labels.positive
    if options.quantile is not None:
        return per_class_thresholds(positive, first.scores, quantile=options.quantile)
    return np.full(positive.shape[1], options.threshold, dtype=np.float64)


def _decide(
    options: FilterStage, first: AuditRound, rounds: list[AuditRound]
) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, reduced)`` over ``first.labels``' clips."""
    positive, scores = first.labels.positive, first.scores
    if options.rule == "top_k":
        keep, reduced = top_k_agreement(positive, scores, k=options.k)
    elif options.rule == "threshold":
        keep, reduced = threshold_agreement(positive, scores, _limits(options, first))
    else:
        flagged = {clip for result in rounds for clip in result.flagged_clips}
        keep = ~np.isin(first.labels.clip_ids, np.array(sorted(flagged), dtype=object))
        reduced = positive & keep[:, None]
    return keep, reduced if options.reduce_labels else positive & keep[:, None]


class _Reasons:
    """The ``why`` of each edit the filter makes: the rule's words for one clip or label."""

    def __init__(self, options: FilterStage, first: AuditRound, rounds: list[AuditRound]) -> None:
        self.options = options
        self.scorer = options.model_from or "the out-of-fold models"
        self.scorers = f"{options.model_from}'s" if options.model_from else "the out-of-fold models'"
        self.limits = _limits(options, first) if options.rule == "threshold" else None
        self.setting = f"quantile {options.quantile}" if options.quantile is not None else "fixed threshold"
        self.round_of = {clip: result.round for result in rounds for clip in result.flagged_clips}

    def rejected(self, clip: str) -> str:
        """Why ``clip`` was rejected."""
        options = self.options
        if options.rule == "top_k":
            return f"no label in {self.scorers} top {options.k}"
        if options.rule == "threshold":
            return f"no label reaches its class's threshold in {self.scorers} scores ({self.setting})"
        return (
            f"flagged as noisy in round {self.round_of.get(clip, 1)} by the {options.method} audit "
            f"of {self.scorer}"
        )

    def dropped(self, column: int, score: float) -> str:
        """Why a label of class ``column``, scored ``score``, was dropped from a kept clip."""
        if self.limits is None:
            return f"not in {self.scorers} top {self.options.k}"
        return (
            f"{self.scorers} score {score:.3g} is below the class's threshold "
            f"{float(self.limits[column]):.3g} ({self.setting})"
        )


def _filter_edits(
    labels: Labels,
    first: AuditRound,
    keep: np.ndarray,
    reduced: np.ndarray,
    reasons: _Reasons,
    who: str,
) -> list[LabelEdit]:
    """One edit per change of ``labels``: a dropped label, or a rejected clip (unlabel / blacklist)."""
    rejected_as: Action = "blacklist" if reasons.options.rejected == "blacklist" else "unlabel"
    row = {clip: i for i, clip in enumerate(labels.clip_ids.tolist())}
    now = utc_now()
    edits: list[LabelEdit] = []
    for i, clip in enumerate(first.labels.clip_ids.tolist()):
        if not keep[i]:
            edits.append(LabelEdit(clip, "", rejected_as, who=who, why=reasons.rejected(clip), time=now))
            continue
        before = labels.positive[row[clip]]
        for c in np.flatnonzero(before != reduced[i]):
            action: Action = "add" if reduced[i, c] else "remove"
            why = reasons.dropped(int(c), float(first.scores[i, c]))
            edits.append(LabelEdit(clip, labels.class_names[c], action, who=who, why=why, time=now))
    return edits


def _describe(options: FilterStage) -> str:
    if options.rule == "top_k":
        return f"rule top_k (k={options.k})"
    if options.rule == "threshold":
        value = (
            f"quantile={options.quantile}"
            if options.quantile is not None
            else f"threshold={options.threshold}"
        )
        return f"rule threshold ({value})"
    if options.flag_top is not None:
        flag = f"flag_top={options.flag_top}"
    elif options.flag_above is not None:
        flag = f"flag_above={options.flag_above}"
    else:
        flag = "confident-learning flags"
    return f"rule rank ({options.method}, {flag}, {options.rounds} rounds)"


def run_filter(run: PipelineRun, stage: Stage) -> dict[str, Any]:
    """Score, decide, and write the filtered labels, their edits, the audit and a summary."""
    options = cast(FilterStage, stage.options)
    directory = run.stage_dir(stage.name)
    labels = read_labels(run.labels_path(stage))
    pool = np.isin(labels.source, list(options.sources)) & labels.positive.any(1)
    if not pool.any():
        raise PipelineError(
            f"{stage.where(run.recipe)}: no clip of sources {list(options.sources)} has a label to filter"
        )
    rounds = _rounds(run, stage, labels, pool)
    first = rounds[0]
    keep, reduced = _decide(options, first, rounds)
    rule = _describe(options)
    if not keep.any():
        raise PipelineError(
            f"{stage.where(run.recipe)}: the filter keeps none of the {first.labels.num_clips} clips of "
            f"sources {list(options.sources)} ({rule}); loosen the rule"
        )
    row = {clip: i for i, clip in enumerate(labels.clip_ids.tolist())}
    rows = np.array([row[c] for c in first.labels.clip_ids.tolist()], dtype=np.int64)
    positive, annotated, source = labels.positive.copy(), labels.annotated.copy(), labels.source.copy()
    positive[rows] = reduced
    rejected = rows[~keep]
    if options.rejected == "unlabeled":
        positive[rejected], annotated[rejected], source[rejected] = False, False, "unlabeled"
    filtered = dataclasses.replace(labels, positive=positive, annotated=annotated | positive, source=source)
    if options.rejected == "blacklist":
        filtered = filtered.take(~np.isin(filtered.clip_ids, labels.clip_ids[rejected]))
    who = f"earmark pipeline, stage {stage.name}"
    edits = _filter_edits(labels, first, keep, reduced, _Reasons(options, first, rounds), who)
    write_labels(filtered, directory / "labels.csv")
    write_edits(directory / "edits.csv", edits)
    write_audit(rounds[-1].items, directory / "audit.csv")
    for result in rounds if len(rounds) > 1 else ():
        write_audit(result.items, directory / "oof" / f"round-{result.round}" / "audit.csv")
    Predictions(first.labels.clip_ids, labels.class_names, first.scores).write(directory / "scores.npz")
    summary = {
        "rule": rule,
        "scored": first.labels.num_clips,
        "kept": int(keep.sum()),
        "rejected": int((~keep).sum()),
        "rejected_as": options.rejected,
        "labels_removed": int((first.labels.positive & ~reduced & keep[:, None]).sum()),
        "flagged_per_round": [int(result.flagged.sum()) for result in rounds],
        "kept_per_class": dict(zip(labels.class_names, reduced[keep].sum(0).tolist(), strict=True)),
    }
    write_text_atomic(directory / "filter.json", json.dumps(summary, indent=2))
    return {k: v for k, v in summary.items() if k != "kept_per_class"}
