"""Soft pseudo-labels: a teacher run's probabilities as the targets of the missing entries.

A teacher run (an earlier run on the same classes and front-end, e.g. B1 or Mean Teacher)
scores every training clip once, before training. The student trains with the BCE on every
entry: an annotated entry keeps its label; a missing entry takes the teacher's probability as a
soft target, weighted by ``weight`` relative to an annotated entry. Clips of source
``unlabeled`` (every entry missing) are trained on the teacher's targets too unless
``unlabeled: false``.

This is the FSDKaggle2019 winners' practice: Akiyama & Sato (DCASE 2019 Task 2, 4th on the
private leaderboard, lwlrap 0.758) retrained on the noisy clips relabeled with their trained
models' predictions, and soft targets from a model or an ensemble were common among the top
solutions. Here the teacher's targets fill only what the labels leave open (the missing
entries); it is B0 (``missing: negative``) with the teacher's belief instead of a 0.

Options on the teacher's probability ``p``:

* ``temperature`` T sharpens (T < 1) or softens (T > 1) it as ``σ(logit(p) / T)``; T = 1 keeps
  it (the default; soft targets as scored);
* ``threshold`` θ makes it hard: 1 where ``p ≥ θ``, else 0 (classic pseudo-labelling); it cannot
  be combined with a temperature other than 1 (a monotone sharpening moves the threshold only).

The teacher scores with its own segmenting, as it was validated (the same loading as label
enhancement, :meth:`~earmark.strategies.context.TrainingContext.teacher_scores`). The scores
are recomputed when a run resumes (deterministic), so they are not part of the checkpoint. With
``is_main`` the strategy writes ``pseudo_labels.json`` to the run: the teacher and, per class,
the number of missing entries and the mean target they get. ``suspects`` scales the loss of
suspected entries (:mod:`earmark.strategies.suspects`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, ClassVar

import numpy as np
import torch

from earmark.batch import Batch
from earmark.config import ConfigError, Range, check_ranges
from earmark.data.labels import Labels
from earmark.io import write_text_atomic
from earmark.spec import TaggingSpec
from earmark.strategies.base import TrainingContext, masked_bce, register_strategy
from earmark.strategies.supervised import EntryLossStrategy
from earmark.strategies.suspects import SuspectsConfig

__all__ = ["PseudoLabel", "PseudoLabelConfig", "pseudo_targets"]

# a probability is kept inside [ε, 1 − ε] before its logit is taken (float32-safe)
_EPSILON = 1e-6


@dataclasses.dataclass(frozen=True)
class PseudoLabelConfig:
    """``teacher_run`` (its ``checkpoint``) scores the training clips; see the module docstring.

    ``temperature`` T sharpens the teacher's probabilities, ``threshold`` θ makes them hard
    (null: soft), ``weight`` is a pseudo-labelled entry's weight beside an annotated entry's 1,
    ``unlabeled`` trains the unlabeled clips on the teacher's targets too.
    """

    teacher_run: str = ""  # the directory of a finished run on the same classes and front-end
    checkpoint: str = "best"  # the teacher's checkpoint, best or last
    temperature: Annotated[float, Range(gt=0, le=100)] = 1.0  # T: σ(logit(p) / T); below 1 sharpens
    threshold: Annotated[float, Range(gt=0, lt=1)] | None = None  # θ: hard targets 1[p ≥ θ] (null: soft)
    weight: Annotated[float, Range(ge=0, le=1000)] = 1.0  # a pseudo-labelled entry's weight (annotated: 1)
    unlabeled: bool = True  # train the unlabeled clips on the teacher's targets too
    suspects: SuspectsConfig | None = None  # an audit table whose entries' loss is scaled down

    def __post_init__(self) -> None:
        check_ranges(self, key="strategy_options")
        if not self.teacher_run:
            raise ConfigError("pseudo_label needs teacher_run (an earlier run's directory)")
        if self.threshold is not None and self.temperature != 1.0:
            raise ConfigError(
                "pseudo_label takes threshold or a temperature other than 1, not both (a sharpened "
                "probability crosses a threshold where the raw one crosses another)"
            )


def pseudo_targets(
    scores: np.ndarray, *, temperature: float = 1.0, threshold: float | None = None
) -> np.ndarray:
    """The targets a teacher's probabilities give, ``(clips, classes)`` float32 in [0, 1].

    Parameters
    ----------
    scores : (clips, classes) float
        The teacher's probabilities.
    temperature : float > 0
        ``σ(logit(p) / T)``; 1 returns ``p`` unchanged.
    threshold : float in (0, 1) or None
        When given, ``1[p ≥ threshold]`` (hard targets).

    Examples
    --------
    >>> pseudo_targets(np.array([[0.8, 0.3]]), temperature=0.5).round(3).tolist()
    [[0.941, 0.155]]
    >>> pseudo_targets(np.array([[0.8, 0.3]]), threshold=0.5).tolist()
    [[1.0, 0.0]]

    """
    p = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("the teacher's scores must be probabilities in [0, 1]")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if threshold is not None:
        return (p >= threshold).astype(np.float32)
    if temperature == 1.0:
        return p.astype(np.float32)
    clipped = np.clip(p, _EPSILON, 1.0 - _EPSILON)
    logits = np.log(clipped) - np.log1p(-clipped)
    return (1.0 / (1.0 + np.exp(-logits / temperature))).astype(np.float32)


@register_strategy("pseudo_label")
class PseudoLabel(EntryLossStrategy):
    """BCE with the teacher's (soft) targets on missing entries: ``{"bce", "total"}``."""

    config_class: ClassVar[type] = PseudoLabelConfig
    config: PseudoLabelConfig
    loss_name = "bce"

    def __init__(self, spec: TaggingSpec, config: PseudoLabelConfig) -> None:
        super().__init__(spec, config)
        self._rows: dict[str, int] = {}
        self._targets: torch.Tensor | None = None

    def prepare_labels(self, train: Labels, context: TrainingContext) -> Labels:
        """Score ``train`` with the teacher run; keep its targets by clip; write the summary."""
        train = super().prepare_labels(train, context)
        c = self.config
        teacher, scores = context.teacher_scores(c.teacher_run, train, checkpoint=c.checkpoint)
        targets = pseudo_targets(scores, temperature=c.temperature, threshold=c.threshold)
        self._rows = {clip: i for i, clip in enumerate(train.clip_ids.tolist())}
        self._targets = torch.from_numpy(targets)
        if context.is_main:
            missing = train.missing
            counts = missing.sum(0)
            means = np.where(counts > 0, (targets * missing).sum(0) / np.maximum(counts, 1), np.nan)
            summary = {
                "teacher_run": str(teacher.directory),
                "teacher_checkpoint": str(teacher.checkpoint),
                "temperature": c.temperature,
                "threshold": c.threshold,
                "missing_per_class": dict(zip(train.class_names, counts.tolist(), strict=True)),
                "mean_target_per_class": {
                    name: None if np.isnan(v) else round(float(v), 6)
                    for name, v in zip(train.class_names, means, strict=True)
                },
            }
            write_text_atomic(context.run_dir / "pseudo_labels.json", json.dumps(summary, indent=2))
        return train

    def teacher_targets(self, clip_ids: tuple[str, ...]) -> torch.Tensor:
        """The teacher's targets ``(batch, classes)`` of these training clips."""
        if self._targets is None:
            raise ValueError("pseudo_label's teacher has not scored the clips: prepare_labels must run first")
        try:
            rows = [self._rows[clip] for clip in clip_ids]
        except KeyError as error:
            raise ValueError(
                f"clip {error.args[0]!r} was not among the training clips the teacher scored"
            ) from None
        return self._targets[rows]

    def targets(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Labels on annotated entries, the teacher's targets on missing ones; their weights."""
        known = batch.annotated
        teacher = self.teacher_targets(batch.clip_ids).to(batch.positive)
        targets = known * batch.positive + (1.0 - known) * teacher
        rows = batch.labeled.to(known.dtype)[:, None]
        if self.config.unlabeled:
            rows = torch.ones_like(rows)
        weights = (known * batch.labeled.to(known.dtype)[:, None] + (1.0 - known) * self.config.weight) * rows
        return targets, weights

    def entry_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:func:`~earmark.strategies.base.masked_bce` (soft targets)."""
        return masked_bce(logits, targets, weights)
