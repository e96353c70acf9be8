"""Label enhancement ("skeptical teacher"): mask the missing entries a teacher believes in.

A teacher run (trained earlier with missing = negative, B0) scores the training clips. Per
class, the highest-scored share of the *missing* entries (the implicit negatives of
positives-only data) is masked out of the loss: they are the likely missing positives. Every
other missing entry becomes an explicit negative. The student then trains with the masked BCE.

The share is given as Gururani & Lerch's percentile ``gamma`` (entries at or above the γ-th
percentile of the class's missing-entry scores are masked: a share of ``1 - γ/100``) or as
Fonseca et al.'s ``percent`` of implicit negatives flagged per class. See
:mod:`earmark.strategies.components.enhancement` for the exact counts (a share rounding to
zero entries masks none).

The enhanced training table is written to the run as ``enhanced_labels.csv`` and the masked
entries, with the teacher's score and their rank within the class, as ``enhancement.csv``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

import numpy as np

from earmark.audit.missing import rank_within_class
from earmark.audit.table import AuditItem, format_top, write_audit
from earmark.config import ConfigError
from earmark.data.labels import Labels
from earmark.data.table import write_labels
from earmark.spec import TaggingSpec
from earmark.strategies.base import TrainingContext, register_strategy
from earmark.strategies.components.enhancement import flag_missing_entries
from earmark.strategies.supervised import Supervised, SupervisedConfig

__all__ = ["LabelEnhancement", "LabelEnhancementConfig", "enhance_labels", "enhancement_share"]


@dataclasses.dataclass(frozen=True)
class LabelEnhancementConfig:
    """Label enhancement settings.

    ``teacher_run``: a finished run on the same classes and front-end; its ``checkpoint``
    (``best`` or ``last``) scores the training clips. Exactly one of ``gamma`` (percentile, 0–100)
    and ``percent`` (share of implicit negatives flagged per class, 0–100) is set.
    """

    teacher_run: str = ""
    gamma: float | None = None
    percent: float | None = None
    checkpoint: str = "best"

    def __post_init__(self) -> None:
        if not self.teacher_run:
            raise ConfigError(
                "label enhancement needs strategy_options.teacher_run (an earlier run's directory)"
            )
        if (self.gamma is None) == (self.percent is None):
            raise ConfigError("label enhancement needs exactly one of strategy_options.gamma and .percent")
        value = self.gamma if self.gamma is not None else self.percent
        if value is None or not 0.0 <= value <= 100.0:
            raise ConfigError(f"gamma / percent must be in [0, 100], got {value}")


def enhancement_share(config: LabelEnhancementConfig) -> float:
    """The share of each class's missing entries to mask."""
    if config.gamma is not None:
        return 1.0 - config.gamma / 100.0
    assert config.percent is not None  # guaranteed by the config's check
    return config.percent / 100.0


def enhance_labels(labels: Labels, scores: np.ndarray, *, share: float) -> tuple[Labels, np.ndarray]:
    """Labels whose unflagged missing entries become negatives; the flagged ones stay missing.

    Returns the enhanced labels and the ``(clips, classes)`` bool matrix of flagged entries.
    """
    flagged = flag_missing_entries(scores, labels.missing, share=share)
    annotated = labels.annotated | (labels.missing & ~flagged)
    return labels.with_matrices(annotated=annotated), flagged


class EnhancesLabels:
    """Mixin: :meth:`prepare_labels` of label enhancement, for any strategy with its config fields."""

    config: Any
    spec: TaggingSpec

    def prepare_labels(self, train: Labels, context: TrainingContext) -> Labels:
        """Score ``train`` with the teacher run, mask its top missing entries, write both tables."""
        from earmark.runs import load_run

        teacher = load_run(self.config.teacher_run, checkpoint=self.config.checkpoint)
        teacher.spec.check_compatible(
            dataclasses.replace(self.spec, segment_frames=teacher.spec.segment_frames),
            what=f"teacher run {self.config.teacher_run}",
        )
        scores = context.score(teacher.model, train, teacher.segmenting)  # cut as the teacher was
        enhanced, flagged = enhance_labels(train, scores, share=enhancement_share(self.config))
        if context.is_main:
            write_labels(enhanced, context.run_dir / "enhanced_labels.csv")
            write_audit(_flagged_items(train, scores, flagged), context.run_dir / "enhancement.csv")
            summary = {
                "teacher_run": str(teacher.directory),
                "teacher_checkpoint": str(teacher.checkpoint),
                "share": enhancement_share(self.config),
                "missing_entries": int(train.missing.sum()),
                "masked_entries": int(flagged.sum()),
                "masked_per_class": dict(zip(train.class_names, flagged.sum(0).tolist(), strict=True)),
            }
            (context.run_dir / "enhancement.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        return enhanced


def _flagged_items(labels: Labels, scores: np.ndarray, flagged: np.ndarray) -> list[AuditItem]:
    ranks = rank_within_class(scores, labels.missing)
    rows, cols = np.nonzero(flagged)
    order = np.lexsort((cols, rows, -scores[rows, cols]))
    return [
        AuditItem(
            clip=str(labels.clip_ids[rows[i]]),
            class_name=labels.class_names[cols[i]],
            suggestion="add",
            score=float(scores[rows[i], cols[i]]),
            class_rank=int(ranks[rows[i], cols[i]]),
            model_score=float(scores[rows[i], cols[i]]),
            top=format_top(labels.class_names, scores[rows[i]]),
        )
        for i in order
    ]


@register_strategy("label_enhancement")
class LabelEnhancement(EnhancesLabels, Supervised):
    """The student of label enhancement: masked BCE on the enhanced training labels."""

    config_class: ClassVar[type] = LabelEnhancementConfig
    config: LabelEnhancementConfig  # type: ignore[assignment]

    def __init__(self, spec: TaggingSpec, config: LabelEnhancementConfig) -> None:
        super().__init__(spec, SupervisedConfig(missing="mask"))
        self.config = config
