"""Supervised BCE: what a missing label means is the one choice (B0 negative, B1 masked)."""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from typing import Annotated, Any, ClassVar, Literal

import torch
from torch import nn

from earmark.batch import Batch
from earmark.config import ConfigError, Range, check_ranges
from earmark.data.labels import Labels
from earmark.inference import Activation
from earmark.spec import TaggingSpec
from earmark.strategies.base import Strategy, TrainingContext, masked_bce, register_strategy
from earmark.strategies.enhancer import EnhanceConfig, check_enhance_masks
from earmark.strategies.softmax import check_single_label, softmax_ce
from earmark.strategies.suspects import SuspectsConfig, SuspectWeights

__all__ = ["EntryLossStrategy", "Supervised", "SupervisedConfig", "supervised_targets"]


@dataclasses.dataclass(frozen=True)
class SupervisedConfig:
    """``missing``: ``negative`` (B0: a missing entry is a negative) or ``mask`` (B1: no loss).

    ``label_smoothing`` ε moves targets to ε/2 and 1 - ε/2 (under ``output: softmax``, to
    ``(1 − ε) · y + ε / classes``); ``class_weights`` multiplies each
    class's positive term (``pos_weight``), one value per class or empty for none. ``output``
    ``softmax`` trains one categorical cross-entropy over the classes, for single-label data
    (:mod:`earmark.strategies.softmax`; ``missing`` and ``class_weights`` then do not apply). ``enhance``
    trains on labels enhanced by a teacher run (:mod:`earmark.strategies.enhancer`; needs
    ``missing: mask``). ``suspects`` scales the loss of the entries an audit table suspects
    (:mod:`earmark.strategies.suspects`).
    """

    missing: Literal["negative", "mask"] = "mask"
    label_smoothing: Annotated[float, Range(ge=0, lt=1)] = 0.0
    class_weights: tuple[Annotated[float, Range(ge=0, le=1_000_000)], ...] = ()
    enhance: EnhanceConfig | None = None
    suspects: SuspectsConfig | None = None
    output: Activation = "sigmoid"  # softmax: one class per clip, categorical cross-entropy

    def __post_init__(self) -> None:
        check_ranges(self, key="strategy_options")
        check_enhance_masks(self.enhance, self.missing, "strategy.supervised")
        if self.output == "softmax" and self.class_weights:
            raise ConfigError("strategy.supervised: class_weights apply to output: sigmoid only")


def supervised_targets(
    batch: Batch, *, missing: Literal["negative", "mask"], label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(targets, weights)`` of the BCE: labeled rows only; missing entries per ``missing``.

    ``targets`` (soft with ``label_smoothing``) and ``weights`` are ``(batch, classes)``; a
    weight is 0 on unlabeled rows and, with ``missing: mask``, on missing entries.
    """
    weights = batch.annotated if missing == "mask" else torch.ones_like(batch.annotated)
    weights = weights * batch.labeled.to(weights.dtype)[:, None]
    targets = batch.positive
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return targets, weights


class EntryLossStrategy(Strategy):
    """A loss of every label entry of the labeled clips, named ``loss_name``.

    Targets and weights come from :meth:`targets` (by default :func:`supervised_targets` with
    the config's ``missing``); a subclass gives :meth:`entry_loss`, the weighted mean of its loss.
    A config with ``enhance`` or ``suspects`` set enhances the training labels or scales the
    suspected entries' weights.
    """

    loss_name: ClassVar[str]

    def __init__(self, spec: TaggingSpec, config: Any) -> None:
        super().__init__(spec, config, enhance=getattr(config, "enhance", None))
        suspects: SuspectsConfig | None = getattr(config, "suspects", None)
        self.suspects = None if suspects is None else SuspectWeights(suspects)
        if self.output == "softmax" and self.enhancer is not None:
            raise ConfigError(
                f"strategy {self.name}: enhance masks negatives per class; it needs output: sigmoid"
            )

    def prepare_labels(self, train: Labels, context: TrainingContext) -> Labels:
        """The labels enhanced with ``enhance``; the suspects' table read against them.

        Under ``output: softmax`` every labeled clip must have exactly one class.
        """
        train = super().prepare_labels(train, context)
        if self.output == "softmax":
            check_single_label(train, self.name)
        if self.suspects is not None:
            self.suspects.prepare(train, context)
        return train

    def losses(
        self,
        batch: Batch,
        student: nn.Module,
        teacher: nn.Module | None,
        step: int,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        """``{loss_name, "total"}`` of the student's logits (draws nothing from ``generator``)."""
        targets, weights = self.weighted_targets(batch)
        logits = student(batch.features, batch.lengths)
        if self.output == "softmax":
            loss = self.class_loss(logits, targets, weights)
        else:
            loss = self.entry_loss(logits, targets, weights)
        return {self.loss_name: loss, "total": loss}

    def weighted_targets(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`targets`, the suspected entries' weights scaled by ``suspects``."""
        targets, weights = self.targets(batch)
        if self.suspects is not None:
            weights = self.suspects.scale(weights, batch.clip_ids)
        return targets, weights

    def targets(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(targets, weights)``, each ``(batch, classes)``."""
        return supervised_targets(batch, missing=self.config.missing)

    @abstractmethod
    def entry_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The loss averaged over the entries of non-zero weight."""

    def class_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The single-label (softmax) form of the loss, averaged over the rows (``output: softmax``)."""
        raise ConfigError(f"strategy {self.name} has no output: softmax form")


@register_strategy("supervised")
class Supervised(EntryLossStrategy):
    """Binary cross-entropy on labeled clips; B0 or B1 by ``missing``."""

    loss_name = "bce"

    config_class: ClassVar[type] = SupervisedConfig
    config: SupervisedConfig

    def __init__(self, spec: TaggingSpec, config: SupervisedConfig) -> None:
        super().__init__(spec, config)
        if config.class_weights and len(config.class_weights) != spec.num_classes:
            raise ConfigError(
                f"class_weights has {len(config.class_weights)} values for {spec.num_classes} classes"
            )
        self._pos_weight = torch.tensor(config.class_weights) if config.class_weights else None

    def entry_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:func:`~earmark.strategies.base.masked_bce`, ``class_weights`` on the positive terms."""
        pos_weight = None if self._pos_weight is None else self._pos_weight.to(logits.device)
        return masked_bce(logits, targets, weights, pos_weight=pos_weight)

    def targets(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`supervised_targets` with ``missing`` and (under a sigmoid) ``label_smoothing``."""
        smoothing = 0.0 if self.output == "softmax" else self.config.label_smoothing
        return supervised_targets(batch, missing=self.config.missing, label_smoothing=smoothing)

    def class_loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:func:`~earmark.strategies.softmax.softmax_ce` with the config's ``label_smoothing``."""
        return softmax_ce(logits, targets, weights, label_smoothing=self.config.label_smoothing)
