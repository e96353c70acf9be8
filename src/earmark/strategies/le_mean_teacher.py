"""Label enhancement with Mean Teacher in both stages (future work in Gururani & Lerch).

Stage one is a ``mean_teacher`` run with ``missing: negative``: its EMA teacher, the model that
run saves as best, scores the training clips. Stage two (this strategy) masks the
highest-scored share of each class's missing entries exactly as ``label_enhancement`` does and
trains a new student with the masked BCE plus the Mean Teacher consistency term.

It is ``mean_teacher`` with ``missing: mask`` and ``enhance``, its options given flat: those of
:class:`~earmark.strategies.enhancer.EnhanceConfig` beside those of
:class:`~earmark.strategies.mean_teacher.EmaTeacherConfig`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from earmark.spec import TaggingSpec
from earmark.strategies.base import register_strategy
from earmark.strategies.enhancer import EnhanceConfig
from earmark.strategies.mean_teacher import EmaTeacherConfig, MeanTeacher, MeanTeacherConfig

__all__ = ["LabelEnhancedMeanTeacher", "LabelEnhancedMeanTeacherConfig"]


@dataclasses.dataclass(frozen=True)
class LabelEnhancedMeanTeacherConfig(EmaTeacherConfig, EnhanceConfig):
    """The fields of ``enhance`` and of the EMA teacher, flat (the student loss always masks)."""

    def __post_init__(self) -> None:
        EnhanceConfig.__post_init__(self)
        EmaTeacherConfig.__post_init__(self)

    def mean_teacher(self) -> MeanTeacherConfig:
        """The ``mean_teacher`` config these options stand for."""
        enhance = EnhanceConfig(**_fields(self, EnhanceConfig))
        return MeanTeacherConfig(missing="mask", enhance=enhance, **_fields(self, EmaTeacherConfig))


def _fields(config: object, cls: type) -> dict[str, Any]:
    """``config``'s values of the fields of dataclass ``cls``."""
    return {field.name: getattr(config, field.name) for field in dataclasses.fields(cls)}


@register_strategy("le_mean_teacher")
class LabelEnhancedMeanTeacher(MeanTeacher):
    """Mean Teacher trained on labels enhanced by an earlier (Mean Teacher) run."""

    config_class: ClassVar[type] = LabelEnhancedMeanTeacherConfig

    def __init__(self, spec: TaggingSpec, config: LabelEnhancedMeanTeacherConfig) -> None:
        super().__init__(spec, config.mean_teacher())
