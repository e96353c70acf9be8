"""Pure pieces the strategies share: EMA teachers, ramp-ups, label enhancement masks."""

from earmark.strategies.components.enhancement import enhancement_counts, flag_missing_entries
from earmark.strategies.components.teacher import ema_update, frozen_copy, noisy_teacher_mode, sigmoid_rampup

__all__ = [
    "ema_update",
    "enhancement_counts",
    "flag_missing_entries",
    "frozen_copy",
    "noisy_teacher_mode",
    "sigmoid_rampup",
]
