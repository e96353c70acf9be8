"""The four kinds of pipeline stage and their options, as a recipe writes them.

Every stage has a ``name`` (its run directory under the pipeline's ``out``) and a ``kind``:

``train``
    one :class:`~earmark.training.trainer.Trainer` run: the recipe's ``train`` section with the
    stage's ``train`` on top (strategy, sampler, ``data.train_sources`` / folds...), on the labels
    of ``labels_from`` (default: the recipe's labels), optionally from the weights of
    ``init_from``.
``select``
    the best ``per_class`` single-label clips of each class among the clips of ``sources``
    (the "best50s" warm-up set): the other clips of those sources leave the label table.
``filter``
    score the clips of ``sources`` with a trained stage (``model_from``) or out of fold
    (``out_of_fold``), then keep the clips the model agrees with (``rule`` ``top_k`` or
    ``threshold``) or flag the most suspicious ones (``rule: rank``); the rejected clips become
    unlabeled or are blacklisted.
``relabel``
    change the label table: ``take`` labels from another table or loader (e.g. the crowd's),
    ``split`` a source into folds, apply label-edits files (``edits``) or the edits of earlier
    stages (``edits_from``).

Stages that change labels write ``labels.csv`` (the whole table the next stage reads) and
``edits.csv`` (the changes of positives and the blacklisted clips, in the one label-edits
format of :mod:`earmark.data.edits`).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, ClassVar, Literal

from earmark.audit.noisy import NOISY_METHODS
from earmark.config import (
    ConfigError,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    Probability,
    Range,
    check_ranges,
)

__all__ = [
    "KINDS",
    "FilterStage",
    "OutOfFold",
    "RelabelStage",
    "SelectStage",
    "Split",
    "StageOptions",
    "Take",
    "TrainStage",
]


@dataclasses.dataclass(frozen=True)
class StageOptions:
    """Fields every stage may have; subclasses list which name other stages."""

    labels_from: str | None = None

    #: field -> the stage kinds it may name
    references: ClassVar[dict[str, tuple[str, ...]]] = {"labels_from": ("select", "filter", "relabel")}

    def referenced(self) -> list[tuple[str, str]]:
        """``(field, stage name)`` of every stage this one uses."""
        found: list[tuple[str, str]] = []
        for field in self.references:
            value = getattr(self, field)
            names = value if isinstance(value, tuple) else (value,) if value else ()
            found.extend((field, name) for name in names)
        return found


@dataclasses.dataclass(frozen=True)
class TrainStage(StageOptions):
    """A training run.

    ``train`` overrides the recipe's ``train`` section (deep-merged); ``edits`` are label-edits
    files applied to the stage's labels; ``check_curated`` refuses a training selection whose
    curated clips leave a class without a positive.
    """

    init_from: str | None = None
    edits: tuple[str, ...] = ()
    train: dict[str, Any] = dataclasses.field(default_factory=dict)
    check_curated: bool = True

    references: ClassVar[dict[str, tuple[str, ...]]] = {
        "labels_from": ("select", "filter", "relabel"),
        "init_from": ("train",),
    }


@dataclasses.dataclass(frozen=True)
class SelectStage(StageOptions):
    """Best ``per_class`` single-label clips per class among ``sources``, ranked ``by``.

    ``duration`` (longest first), ``score`` (a trained stage's score for the clip's label,
    ``model_from``) or ``random`` (seeded).
    """

    sources: tuple[str, ...] = ("noisy",)
    per_class: Annotated[int, Range(ge=1)] = 50
    by: Literal["duration", "score", "random"] = "duration"
    model_from: str | None = None
    seed: NonNegativeInt = 0  # seeds the draws of by: random

    references: ClassVar[dict[str, tuple[str, ...]]] = {
        "labels_from": ("select", "filter", "relabel"),
        "model_from": ("train",),
    }

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.per_class < 1:
            raise ConfigError(f"per_class must be at least 1, got {self.per_class}")
        if (self.by == "score") != (self.model_from is not None):
            raise ConfigError("by: score needs model_from (a train stage), and model_from needs by: score")


@dataclasses.dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold scoring: ``folds`` models, each trained without one fold of the scored clips.

    ``train`` overrides the recipe's ``train`` section for these runs; ``groups`` is a regular
    expression whose first group keys clips kept in one fold (e.g. twins cut from one recording).
    """

    folds: Annotated[int, Range(ge=2, le=1000)] = 5
    seed: NonNegativeInt = 0
    train: dict[str, Any] = dataclasses.field(default_factory=dict)
    groups: str | None = None

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.folds < 2:
            raise ConfigError(f"out_of_fold.folds must be at least 2, got {self.folds}")


@dataclasses.dataclass(frozen=True)
class FilterStage(StageOptions):
    """Keep the noisy labels a model agrees with; see the module docstring.

    Rules: ``top_k`` (any label among the ``k`` highest-scored classes; labels reduced to the
    overlap when ``reduce_labels``), ``threshold`` (labels scored at least ``threshold``, or at
    least their class's ``quantile`` of scores), ``rank`` (flag the clips most suspected by
    ``earmark audit noisy``'s ``method``: the ``flag_top`` most suspicious, a count or a share,
    or those above ``flag_above``; by default confident learning's rule of
    :func:`earmark.audit.noisy.confident_flags`). ``rejected`` clips become ``unlabeled`` or
    are blacklisted; ``rounds`` > 1 repeats out-of-fold scoring and blacklisting.
    """

    model_from: str | None = None
    out_of_fold: OutOfFold | None = None
    sources: tuple[str, ...] = ("noisy",)
    rule: Literal["top_k", "threshold", "rank"] = "top_k"
    k: Annotated[int, Range(ge=1)] = 5
    threshold: Probability | None = None
    quantile: Probability | None = None
    flag_top: Annotated[int | float, Range(gt=0)] | None = None  # a count, or a share below 1
    flag_above: NonNegativeFloat | None = None
    method: str = "calibrated_margin"
    junk_below: Probability = 0.25  # rank: a clip no class scores this share of its threshold is junk
    rejected: Literal["unlabeled", "blacklist"] = "unlabeled"
    reduce_labels: bool = True
    rounds: Annotated[int, Range(ge=1, le=100)] = 1

    references: ClassVar[dict[str, tuple[str, ...]]] = {
        "labels_from": ("select", "filter", "relabel"),
        "model_from": ("train",),
    }

    def __post_init__(self) -> None:
        check_ranges(self)
        if (self.model_from is None) == (self.out_of_fold is None):
            raise ConfigError("a filter needs exactly one of model_from (a train stage) and out_of_fold")
        if self.rule == "top_k" and self.k < 1:
            raise ConfigError(f"k must be at least 1, got {self.k}")
        if self.rule == "threshold" and (self.threshold is None) == (self.quantile is None):
            raise ConfigError("rule threshold needs exactly one of threshold and quantile")
        if self.rule == "rank" and self.flag_top is not None and self.flag_above is not None:
            raise ConfigError("rule rank takes flag_top or flag_above, not both")
        if self.method not in NOISY_METHODS:
            raise ConfigError(f"unknown method {self.method!r}; valid methods: {', '.join(NOISY_METHODS)}")
        if self.rounds < 1:
            raise ConfigError(f"rounds must be at least 1, got {self.rounds}")
        if self.rounds > 1 and not (
            self.rule == "rank" and self.rejected == "blacklist" and self.out_of_fold
        ):
            raise ConfigError(
                "rounds > 1 repeats blacklisting: it needs rule rank, rejected blacklist and out_of_fold"
            )


@dataclasses.dataclass(frozen=True)
class Take:
    """Labels of chosen clips taken from another label table (``table``) or loader (``layout``).

    The chosen clips are those of ``folds`` and ``sources`` (all when empty); of them,
    ``keep_per_class`` per class (seeded) keep their labels and source, the others take the
    other labels and ``source``. ``unmatched``: what becomes of chosen clips the other labels
    lack, ``drop`` (they leave the table) or ``keep``.
    """

    table: str | None = None
    layout: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    folds: tuple[Annotated[int, Range(ge=0, le=1_000_000)], ...] = ()
    sources: tuple[str, ...] = ()
    source: Literal["curated", "noisy", "unlabeled"] | None = None
    keep_per_class: NonNegativeInt = 0
    seed: NonNegativeInt = 0
    unmatched: Literal["drop", "keep"] = "drop"

    def __post_init__(self) -> None:
        check_ranges(self)
        if (self.table is None) == (self.layout is None):
            raise ConfigError("take needs exactly one of table (a label table) and layout (a loader)")
        if self.keep_per_class < 0:
            raise ConfigError(f"keep_per_class must be >= 0, got {self.keep_per_class}")


@dataclasses.dataclass(frozen=True)
class Split:
    """Folds ``first_fold, first_fold + 1, ...`` for the clips of ``sources``, in ``shares`` (seeded)."""

    sources: tuple[str, ...] = ("curated",)
    shares: tuple[PositiveFloat, ...] = (8.0, 1.0, 1.0)
    seed: NonNegativeInt = 1994
    first_fold: Annotated[int, Range(ge=0, le=1_000_000)] = 1

    def __post_init__(self) -> None:
        check_ranges(self)
        if len(self.shares) < 2 or any(s <= 0 for s in self.shares):
            raise ConfigError(f"split.shares needs at least two positive shares, got {list(self.shares)}")


@dataclasses.dataclass(frozen=True)
class RelabelStage(StageOptions):
    """``take``, then ``split``, then the edits of ``edits_from`` stages and ``edits`` files, in order."""

    take: Take | None = None
    split: Split | None = None
    edits: tuple[str, ...] = ()
    edits_from: tuple[str, ...] = ()

    references: ClassVar[dict[str, tuple[str, ...]]] = {
        "labels_from": ("select", "filter", "relabel"),
        "edits_from": ("filter", "relabel"),
    }

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.take is None and self.split is None and not self.edits and not self.edits_from:
            raise ConfigError("a relabel stage needs take, split, edits or edits_from")


KINDS: dict[str, type[StageOptions]] = {
    "train": TrainStage,
    "select": SelectStage,
    "filter": FilterStage,
    "relabel": RelabelStage,
}
