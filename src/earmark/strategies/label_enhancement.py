"""Label enhancement ("skeptical teacher"): ``supervised`` with ``missing: mask`` and ``enhance``.

A teacher run (trained earlier with missing = negative, B0) scores the training clips; per
class, the highest-scored share of the missing entries stays masked and every other missing
entry becomes a negative (see :mod:`earmark.strategies.enhancer`). The student trains with the
masked BCE. The options are those of ``enhance`` (``teacher_run``, ``gamma`` or ``percent``,
``checkpoint``), given at the top level: ``strategy: label_enhancement`` with
``{teacher_run: runs/b0, gamma: 95}`` is ``strategy: supervised`` with
``{missing: mask, enhance: {teacher_run: runs/b0, gamma: 95}}``.
"""

from __future__ import annotations

from typing import ClassVar

from earmark.spec import TaggingSpec
from earmark.strategies.base import register_strategy
from earmark.strategies.enhancer import EnhanceConfig
from earmark.strategies.supervised import Supervised, SupervisedConfig

__all__ = ["LabelEnhancement"]


@register_strategy("label_enhancement")
class LabelEnhancement(Supervised):
    """The student of label enhancement: masked BCE on the enhanced training labels."""

    config_class: ClassVar[type] = EnhanceConfig

    def __init__(self, spec: TaggingSpec, config: EnhanceConfig) -> None:
        super().__init__(spec, SupervisedConfig(missing="mask", enhance=config))
