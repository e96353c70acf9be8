"""Label enhancement ("skeptical teacher") as an option of any strategy: ``enhance: {...}``.

A teacher run (trained earlier with missing = negative, B0) scores the training clips. Per
class, the highest-scored share of the *missing* entries (the implicit negatives of
positives-only data) stays masked out of the loss: they are the likely missing positives.
Every other missing entry becomes an explicit negative. The strategy then trains on these
labels with its own loss, which must mask missing entries (``missing: mask``).

The share is given as Gururani & Lerch's percentile ``gamma`` (entries at or above the γ-th
percentile of the class's missing-entry scores are masked: a share of ``1 - γ/100``) or as
Fonseca et al.'s ``percent`` of implicit negatives flagged per class. See
:mod:`earmark.strategies.components.enhancement` for the exact counts (a share rounding to
zero entries masks none). ``gamma: auto`` sets the share per class from the teacher's
estimated rate of missing positives: the expected number of positives among the class's missing
entries (Elkan & Noto's estimator, calibrated on the annotated positives; see
:mod:`earmark.strategies.components.missing_rate`) over the number of missing entries. γ = 0
masks every missing entry (B1) and γ = 100 none (every missing entry a negative, B0), so label
enhancement can only win between them; ``auto`` puts each class where its own estimated
missing positives say.

A strategy whose config has ``enhance`` set holds a :class:`LabelEnhancer` and applies it in
``prepare_labels``. The enhancer writes the enhanced training table to the run as
``enhanced_labels.csv``, the masked entries (with the teacher's score and their rank within the
class) as ``enhancement.csv`` and a summary as ``enhancement.json``. Example options::

    strategy: mean_teacher
    strategy_options: {alpha: 0.99, enhance: {teacher_run: runs/mt0, gamma: 95}}
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Literal

import numpy as np

from earmark.audit.missing import rank_within_class
from earmark.audit.table import AuditItem, format_top, write_audit
from earmark.config import ConfigError, Range, check_ranges
from earmark.data.labels import Labels
from earmark.data.table import write_labels
from earmark.io import write_text_atomic
from earmark.spec import TaggingSpec
from earmark.strategies.components.enhancement import flag_missing_entries
from earmark.strategies.components.missing_rate import missing_positive_shares
from earmark.strategies.context import TrainingContext

__all__ = ["EnhanceConfig", "LabelEnhancer", "check_enhance_masks", "enhance_labels"]


@dataclasses.dataclass(frozen=True)
class EnhanceConfig:
    """Label enhancement settings.

    ``teacher_run``: a finished run on the same classes and front-end; its ``checkpoint``
    (``best`` or ``last``) scores the training clips. Exactly one of ``gamma`` (percentile, 0–100,
    or ``auto``: per class from the estimated missing-positive rate) and ``percent`` (share of
    implicit negatives flagged per class, 0–100) is set.
    """

    teacher_run: str = ""
    gamma: Annotated[float, Range(ge=0, le=100)] | Literal["auto"] | None = None
    percent: Annotated[float, Range(ge=0, le=100)] | None = None
    checkpoint: str = "best"

    def __post_init__(self) -> None:
        check_ranges(self, key="enhance")
        if not self.teacher_run:
            raise ConfigError("label enhancement needs teacher_run (an earlier run's directory)")
        if (self.gamma is None) == (self.percent is None):
            raise ConfigError("label enhancement needs exactly one of gamma and percent")
        value = self.gamma if self.gamma is not None else self.percent
        if value == "auto":
            return
        if not isinstance(value, float | int) or not 0.0 <= value <= 100.0:
            raise ConfigError(
                f"label enhancement's gamma / percent must be in [0, 100] (or gamma: auto), got {value}"
            )

    @property
    def auto(self) -> bool:
        """Whether the share is estimated per class (``gamma: auto``)."""
        return self.gamma == "auto"

    @property
    def share(self) -> float:
        """The share of each class's missing entries to mask (``gamma: auto``: ValueError)."""
        if self.gamma == "auto":
            raise ValueError("gamma: auto has a share per class, estimated from the teacher's scores")
        if self.gamma is not None:
            return 1.0 - self.gamma / 100.0
        return (self.percent or 0.0) / 100.0


def check_enhance_masks(enhance: EnhanceConfig | None, missing: str, key: str) -> None:
    """Raise unless a strategy with ``enhance`` set masks missing entries (``key``: its config key)."""
    if enhance is not None and missing != "mask":
        raise ConfigError(
            f"{key}.enhance needs {key}.missing: mask (the entries the teacher flags must stay out "
            f"of the loss), got missing: {missing}"
        )


def enhance_labels(
    labels: Labels, scores: np.ndarray, *, share: float | np.ndarray
) -> tuple[Labels, np.ndarray]:
    """Labels whose unflagged missing entries become negatives; the flagged ones stay missing.

    Parameters
    ----------
    labels : Labels
        The training labels.
    scores : (clips, classes) float
        The teacher's scores of ``labels``' clips.
    share : float in [0, 1], or (classes,) such floats
        Share of each class's missing entries to flag.

    Returns
    -------
    (Labels, (clips, classes) bool)
        The enhanced labels and the flagged entries.

    """
    flagged = flag_missing_entries(scores, labels.missing, share=share)
    annotated = labels.annotated | (labels.missing & ~flagged)
    return labels.with_matrices(annotated=annotated), flagged


class LabelEnhancer:
    """The label enhancement a strategy holds: scores with a teacher run, masks, writes tables."""

    def __init__(self, spec: TaggingSpec, config: EnhanceConfig) -> None:
        self.spec = spec
        self.config = config

    def enhance(self, train: Labels, context: TrainingContext) -> Labels:
        """Score ``train`` with the teacher run, mask its top missing entries, write the tables.

        The teacher scores through ``context.score`` with its own segmenting (as it was
        validated), not the student's. Deterministic: a resumed run recomputes the same labels.
        """
        config = self.config
        teacher, scores = context.teacher_scores(config.teacher_run, train, checkpoint=config.checkpoint)
        estimate = missing_positive_shares(scores, train.positive, train.annotated) if config.auto else None
        share = config.share if estimate is None else estimate["share"]
        enhanced, flagged = enhance_labels(train, scores, share=share)
        if context.is_main:
            write_labels(enhanced, context.run_dir / "enhanced_labels.csv")
            write_audit(_flagged_items(train, scores, flagged), context.run_dir / "enhancement.csv")
            summary: dict[str, object] = {
                "teacher_run": str(teacher.directory),
                "teacher_checkpoint": str(teacher.checkpoint),
                "share": share if estimate is None else _per_class(train, estimate["share"]),
                "missing_entries": int(train.missing.sum()),
                "masked_entries": int(flagged.sum()),
                "masked_per_class": dict(zip(train.class_names, flagged.sum(0).tolist(), strict=True)),
            }
            if estimate is not None:
                summary["estimate"] = {key: _per_class(train, values) for key, values in estimate.items()}
            write_text_atomic(context.run_dir / "enhancement.json", json.dumps(summary, indent=2))
        return enhanced


def _per_class(labels: Labels, values: np.ndarray) -> dict[str, float | bool | None]:
    """``values`` ``(classes,)`` by class name, JSON-ready (NaN as null)."""
    out: dict[str, float | bool | None] = {}
    for name, value in zip(labels.class_names, values.tolist(), strict=True):
        out[name] = value if isinstance(value, bool) else None if value != value else round(float(value), 6)
    return out


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
