"""Label enhancement with Mean Teacher in both stages (future work in Gururani & Lerch).

Stage one is a ``mean_teacher`` run with ``missing: negative``: its EMA teacher, the model that
run saves as best, scores the training clips. Stage two (this strategy) masks the
highest-scored share of each class's missing entries exactly as ``label_enhancement`` does and
trains a new student with the masked BCE plus the Mean Teacher consistency term.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from earmark.config import ConfigError
from earmark.spec import TaggingSpec
from earmark.strategies.base import register_strategy
from earmark.strategies.label_enhancement import EnhancesLabels, LabelEnhancementConfig
from earmark.strategies.mean_teacher import MeanTeacher, MeanTeacherConfig

__all__ = ["LabelEnhancedMeanTeacher", "LabelEnhancedMeanTeacherConfig"]


@dataclasses.dataclass(frozen=True)
class LabelEnhancedMeanTeacherConfig:
    """The fields of ``label_enhancement`` and of ``mean_teacher`` (the student loss always masks)."""

    teacher_run: str = ""
    gamma: float | None = None
    percent: float | None = None
    checkpoint: str = "best"
    alpha: float = 0.999
    consistency_weight: float = 3.0
    rampup_steps: int = 1000
    ema_warmup: bool = True
    teacher_dropout: bool = True
    teacher_view: Literal["same", "specaugment"] = "same"

    def __post_init__(self) -> None:
        LabelEnhancementConfig(self.teacher_run, self.gamma, self.percent, self.checkpoint)
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"strategy.le_mean_teacher.alpha must be in [0, 1], got {self.alpha}")


@register_strategy("le_mean_teacher")
class LabelEnhancedMeanTeacher(EnhancesLabels, MeanTeacher):
    """Mean Teacher trained on labels enhanced by an earlier (Mean Teacher) run."""

    config_class: ClassVar[type] = LabelEnhancedMeanTeacherConfig
    config: LabelEnhancedMeanTeacherConfig  # type: ignore[assignment]

    def __init__(self, spec: TaggingSpec, config: LabelEnhancedMeanTeacherConfig) -> None:
        mean_teacher = MeanTeacherConfig(
            missing="mask",
            alpha=config.alpha,
            consistency_weight=config.consistency_weight,
            rampup_steps=config.rampup_steps,
            ema_warmup=config.ema_warmup,
            teacher_dropout=config.teacher_dropout,
            teacher_view=config.teacher_view,
        )
        super().__init__(spec, mean_teacher)
        self.config = config
