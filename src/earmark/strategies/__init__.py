"""Strategies: how labels become a loss. Importing this package registers them all."""

from earmark.strategies import asymmetric as asymmetric
from earmark.strategies import consistency, label_enhancement, le_mean_teacher, mean_teacher, supervised
from earmark.strategies import early_learning as early_learning
from earmark.strategies import expected_positive as expected_positive
from earmark.strategies import large_loss as large_loss
from earmark.strategies import pseudo_label as pseudo_label
from earmark.strategies import robust as robust
from earmark.strategies.base import (
    STRATEGIES,
    Strategy,
    TrainingContext,
    build_strategy,
    masked_bce,
    register_strategy,
)
from earmark.strategies.context import RunLoader, TeacherRun
from earmark.strategies.enhancer import EnhanceConfig, LabelEnhancer

__all__ = [
    "STRATEGIES",
    "EnhanceConfig",
    "LabelEnhancer",
    "RunLoader",
    "Strategy",
    "TeacherRun",
    "TrainingContext",
    "build_strategy",
    "consistency",
    "label_enhancement",
    "le_mean_teacher",
    "masked_bce",
    "mean_teacher",
    "register_strategy",
    "supervised",
]
