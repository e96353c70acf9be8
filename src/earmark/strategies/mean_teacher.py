"""Mean Teacher: masked BCE for the student plus a consistency term towards an EMA teacher.

Gururani & Lerch (OpenMIC-2018, SONYC-UST): the student is trained with the BCE on the known
entries (``missing: mask``) plus ``β · ramp(step) ·`` the mean squared difference between the
student's and the teacher's *sigmoid* outputs on every clip of the batch, labeled or not. The
teacher is an exponential moving average of the student (α = 0.999 on OpenMIC, 0.99 on
SONYC-UST; β = 3), so it changes only through the EMA; noise comes from dropout (active in
both forward passes) and from the batch's augmentation, and ``teacher_view`` can give the
teacher its own SpecAugment view, drawn from the run's generator.

Which model is evaluated (validated, checkpointed as best, used for prediction) is ``evaluate``:

* ``teacher`` (the default, the paper's): the student is validated beside it and reported as
  ``student_*``;
* ``student``: the teacher is reported as ``teacher_*``;
* ``validation``: both are validated; at each validation the better of the two on the run's
  metric (the teacher on a tie) is the candidate for the best checkpoint, which then holds that
  model's weights and names it (``evaluated`` in the checkpoint, the validation log row and
  ``summary.json``). The student is reported beside the result as ``student_*``; on the test
  split that is the last student, not the best checkpoint's. Over a short schedule the EMA
  teacher lags the student (α = 0.999 averages about the last 1,000 steps); this lets the
  validation split decide instead of a fixed choice.

The released code defined a ramp-up and never used it; here ``rampup_steps`` (sigmoid-shaped,
``exp(-5 (1 - t)²)``) is applied, and 0 turns it off (β from the first step). A ramp-up longer
than a short schedule keeps the consistency term small for most of the run, so studies on
short schedules should set ``rampup_steps: 0`` or a few epochs' steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

import torch
from torch import nn

from earmark.augment.specaugment import SpecAugment
from earmark.batch import Batch
from earmark.config import ConfigError, NonNegativeInt, Probability, Range, check_ranges
from earmark.spec import TaggingSpec
from earmark.strategies.base import Strategy, masked_bce, register_strategy
from earmark.strategies.components.teacher import ema_update, frozen_copy, noisy_teacher_mode, sigmoid_rampup
from earmark.strategies.enhancer import EnhanceConfig, check_enhance_masks
from earmark.strategies.supervised import supervised_targets

__all__ = ["EmaTeacherConfig", "MeanTeacher", "MeanTeacherConfig"]


@dataclasses.dataclass(frozen=True)
class EmaTeacherConfig:
    """The EMA teacher and its consistency term (every Mean Teacher setting but the student's BCE).

    ``alpha`` is the EMA decay, ``consistency_weight`` β, ``rampup_steps`` the length of β's
    sigmoid ramp-up. ``ema_warmup`` uses ``min(alpha, 1 - 1 / (step + 2))`` early on, so the
    teacher is not stuck near its random start. ``teacher_dropout`` keeps dropout active in the
    teacher's pass; ``teacher_view`` ``specaugment`` masks the teacher's input independently of
    the student's. ``evaluate``: ``teacher``, ``student`` or ``validation`` (module docstring).
    """

    alpha: Probability = 0.999
    consistency_weight: Annotated[float, Range(ge=0, le=1_000_000)] = 3.0
    rampup_steps: NonNegativeInt = 1000
    ema_warmup: bool = True
    teacher_dropout: bool = True
    teacher_view: Literal["same", "specaugment"] = "same"
    evaluate: Literal["teacher", "student", "validation"] = "teacher"  # validation: the better of the two

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"mean teacher's alpha (the EMA decay) must be in [0, 1], got {self.alpha}")
        if self.consistency_weight < 0 or self.rampup_steps < 0:
            raise ConfigError("mean teacher's consistency_weight and rampup_steps must be >= 0")
        check_ranges(self, key="strategy_options")


@dataclasses.dataclass(frozen=True)
class MeanTeacherConfig(EmaTeacherConfig):
    """Mean Teacher settings: those of :class:`EmaTeacherConfig`, ``missing`` and ``enhance``.

    ``missing`` as in ``supervised`` (``mask`` is the paper's student loss; ``negative`` trains
    a B0-style teacher for label enhancement). ``enhance`` trains on labels enhanced by a
    teacher run (:mod:`earmark.strategies.enhancer`; needs ``missing: mask``).
    """

    missing: Literal["negative", "mask"] = "mask"
    enhance: EnhanceConfig | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_enhance_masks(self.enhance, self.missing, "strategy.mean_teacher")


@register_strategy("mean_teacher")
class MeanTeacher(Strategy):
    """Student BCE on known entries + β · ramp · MSE(sigmoid(student), sigmoid(EMA teacher))."""

    config_class: ClassVar[type] = MeanTeacherConfig
    config: MeanTeacherConfig

    def __init__(self, spec: TaggingSpec, config: MeanTeacherConfig) -> None:
        super().__init__(spec, config, enhance=config.enhance)
        self._teacher_view = SpecAugment() if config.teacher_view == "specaugment" else None

    def make_teacher(self, student: nn.Module) -> nn.Module:
        """A copy of the student that never receives gradients."""
        return frozen_copy(student)

    def consistency_scale(self, step: int) -> float:
        """β times the ramp-up at ``step``."""
        return self.config.consistency_weight * sigmoid_rampup(step, self.config.rampup_steps)

    def losses(
        self,
        batch: Batch,
        student: nn.Module,
        teacher: nn.Module | None,
        step: int,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        """``{"bce", "consistency", "total"}``; consistency is over every row, labeled or not.

        With ``teacher_view: specaugment`` the teacher's view is drawn from ``generator``.
        """
        if teacher is None:
            raise ValueError("mean_teacher needs the teacher made by make_teacher")
        targets, weights = supervised_targets(batch, missing=self.config.missing)
        logits = student(batch.features, batch.lengths)
        bce = masked_bce(logits, targets, weights)
        features = batch.features
        if self._teacher_view is not None:
            features = self._teacher_view(features, generator)
        with torch.no_grad(), noisy_teacher_mode(teacher, dropout=self.config.teacher_dropout):
            teacher_probabilities = torch.sigmoid(teacher(features, batch.lengths))
        consistency = (torch.sigmoid(logits) - teacher_probabilities).pow(2).mean()
        total = bce + self.consistency_scale(step) * consistency
        return {"bce": bce, "consistency": consistency, "total": total}

    def after_step(self, student: nn.Module, teacher: nn.Module | None, step: int) -> None:
        """The EMA update of the teacher."""
        if teacher is None:
            raise ValueError("mean_teacher needs the teacher made by make_teacher")
        alpha = self.config.alpha
        if self.config.ema_warmup:
            alpha = min(alpha, 1.0 - 1.0 / (step + 2))
        ema_update(teacher, student, alpha)

    def evaluation_model(self, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
        """The teacher (the student with ``evaluate: student``): validated, saved, used for prediction."""
        if teacher is None:
            raise ValueError("mean_teacher needs the teacher made by make_teacher")
        return student if self.config.evaluate == "student" else teacher

    def reported_models(self, student: nn.Module, teacher: nn.Module | None) -> dict[str, nn.Module]:
        """The other of the two, validated beside the evaluated one."""
        if self.config.evaluate == "student":
            if teacher is None:
                raise ValueError("mean_teacher needs the teacher made by make_teacher")
            return {"teacher": teacher}
        return {"student": student}

    def choose_evaluated(
        self, metric: str, evaluated: Mapping[str, float], reported: Mapping[str, Mapping[str, float]]
    ) -> str | None:
        """With ``evaluate: validation``, ``"student"`` when it validated better than the teacher."""
        if self.config.evaluate != "validation":
            return None
        return "student" if reported["student"][metric] > evaluated[metric] else None
