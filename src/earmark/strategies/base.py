"""The strategy protocol: how labels become a loss, and a registry of strategies by name.

A strategy turns a :class:`~earmark.training.batch.Batch` and the models into named scalar
losses, one of them ``"total"`` (the one the Trainer back-propagates). It may own a teacher
model (Mean Teacher's EMA, label enhancement's fixed teacher) and update it after every
optimizer step. The Trainer is the one loop; a strategy never runs its own.

Adding a strategy is one file with a config dataclass and a class registered with
:func:`register_strategy`, plus one line in the contract test.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import nn

from earmark.data.labels import Labels
from earmark.inference import Segmenting
from earmark.registry import Registry
from earmark.spec import TaggingSpec
from earmark.training.batch import Batch

__all__ = ["STRATEGIES", "Strategy", "TrainingContext", "build_strategy", "masked_bce", "register_strategy"]


@dataclasses.dataclass(frozen=True)
class TrainingContext:
    """What a strategy may use before training starts (see :meth:`Strategy.prepare_labels`).

    Attributes
    ----------
    run_dir : the run directory (files a strategy writes there are part of the run).
    spec : the run's TaggingSpec.
    is_main : True on the process that writes files (rank 0, or the only process).
    score : ``score(model, labels, segmenting)`` returns the model's clip probabilities
        ``(clips, classes)`` for ``labels``' clips, from the run's feature store, cut and
        aggregated as ``segmenting`` says (a teacher run's own settings).

    """

    run_dir: Path
    spec: TaggingSpec
    is_main: bool
    score: Callable[[nn.Module, Labels, Segmenting], np.ndarray]


class Strategy(ABC):
    """Base of every strategy; subclasses set ``config_class`` and implement :meth:`losses`."""

    name: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, spec: TaggingSpec, config: Any) -> None:
        self.spec = spec
        self.config = config

    def prepare_labels(self, train: Labels, context: TrainingContext) -> Labels:
        """The training labels this strategy trains on (unchanged by default).

        Called once before training, on every process, with the training split; label
        enhancement masks entries here. It must be deterministic: a resumed run calls it again.
        """
        return train

    def make_teacher(self, student: nn.Module) -> nn.Module | None:
        """The teacher this strategy trains with, or None (the default)."""
        return None

    @abstractmethod
    def losses(
        self, batch: Batch, student: nn.Module, teacher: nn.Module | None, step: int
    ) -> dict[str, torch.Tensor]:
        """Named scalar losses of one batch; ``"total"`` is back-propagated."""

    def after_step(self, student: nn.Module, teacher: nn.Module | None, step: int) -> None:  # noqa: B027
        """Called after every optimizer step (Mean Teacher updates its EMA here)."""

    def evaluation_model(self, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
        """The model that is validated, checkpointed as best and used for prediction."""
        return student

    def reported_models(self, student: nn.Module, teacher: nn.Module | None) -> dict[str, nn.Module]:
        """Models validated beside the evaluated one, by name (Mean Teacher reports its student)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Strategy state to checkpoint (none by default)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: B027
        """Restore :meth:`state_dict`."""


#: Registered strategies: name -> class, each entry with the class's ``config_class``.
STRATEGIES: Registry[type[Strategy]] = Registry("strategy", plural="strategies")
S = TypeVar("S", bound=type[Strategy])


def register_strategy(name: str) -> Callable[[S], S]:
    """Class decorator adding a strategy to :data:`STRATEGIES`; a duplicate name raises."""

    def decorate(cls: S) -> S:
        STRATEGIES.add(name, cls, cls.config_class)
        cls.name = name
        return cls

    return decorate


def build_strategy(name: str, spec: TaggingSpec, options: Mapping[str, Any] | None = None) -> Strategy:
    """Instantiate strategy ``name`` with its options validated strictly."""
    return STRATEGIES[name](spec, STRATEGIES.config(name, options, key=f"strategy.{name}"))


def masked_bce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    *,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Binary cross-entropy averaged over the entries with non-zero weight.

    ``logits``, ``targets`` (soft targets allowed) and ``weights`` are ``(batch, classes)``.
    An entry of weight 0 contributes nothing, whatever its target; with every weight 0 the
    loss is 0 (and still part of the graph).
    """
    if logits.shape != targets.shape or logits.shape != weights.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)}, targets {tuple(targets.shape)} and weights "
            f"{tuple(weights.shape)} must have one shape"
        )
    per_entry = nn.functional.binary_cross_entropy_with_logits(
        logits, targets, reduction="none", pos_weight=pos_weight
    )
    return (per_entry * weights).sum() / weights.sum().clamp_min(1.0)
