"""The strategy protocol: how labels become a loss, and a registry of strategies by name.

A strategy turns a :class:`~earmark.batch.Batch` and the models into named scalar
losses, one of them ``"total"`` (the one the Trainer back-propagates). It may own a teacher
model (Mean Teacher's EMA, label enhancement's fixed teacher) and update it after every
optimizer step. The Trainer is the one loop; a strategy never runs its own.

Adding a strategy is one file with a config dataclass and a class registered with
:func:`register_strategy`, plus one line in the contract test.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from earmark.batch import Batch
from earmark.data.labels import Labels
from earmark.inference import Activation
from earmark.registry import Registry
from earmark.spec import TaggingSpec
from earmark.strategies.context import TrainingContext
from earmark.strategies.enhancer import EnhanceConfig, LabelEnhancer

__all__ = [
    "STRATEGIES",
    "Strategy",
    "TrainingContext",
    "build_strategy",
    "check_entry_shapes",
    "masked_bce",
    "register_strategy",
    "weighted_mean",
    "world_size",
]


class Strategy(ABC):
    """Base of every strategy; subclasses set ``config_class`` and implement :meth:`losses`.

    A strategy given ``enhance`` (its config's ``enhance`` field) holds a
    :class:`~earmark.strategies.enhancer.LabelEnhancer` and trains on the labels it enhances.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, spec: TaggingSpec, config: Any, *, enhance: EnhanceConfig | None = None) -> None:
        self.spec = spec
        self.config = config
        self.enhancer = None if enhance is None else LabelEnhancer(spec, enhance)

    def prepare_labels(self, train: Labels, context: TrainingContext) -> Labels:
        """The training labels this strategy trains on: enhanced with ``enhance``, else unchanged.

        Called once before training, on every process, with the training split. It must be
        deterministic: a resumed run calls it again.
        """
        return train if self.enhancer is None else self.enhancer.enhance(train, context)

    @property
    def output(self) -> Activation:
        """How the logits this strategy trains become probabilities: ``sigmoid`` or ``softmax``.

        The config's ``output`` where it has one (the single-label losses,
        :mod:`earmark.strategies.softmax`), else ``sigmoid``. The run scores clips with it.
        """
        output: Activation = getattr(self.config, "output", "sigmoid")
        return output

    def make_teacher(self, student: nn.Module) -> nn.Module | None:
        """The teacher this strategy trains with, or None (the default)."""
        return None

    @abstractmethod
    def losses(
        self,
        batch: Batch,
        student: nn.Module,
        teacher: nn.Module | None,
        step: int,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        """Named scalar losses of one batch; ``"total"`` is back-propagated.

        Every random draw of the strategy (augmented views, mixing) comes from ``generator``,
        the run's generator (seeded by the run's seed and rank, checkpointed): each seed of a
        study draws its own views, and a resumed run draws the same ones.
        """

    def after_step(self, student: nn.Module, teacher: nn.Module | None, step: int) -> None:  # noqa: B027
        """Called after every optimizer step (Mean Teacher updates its EMA here)."""

    def evaluation_model(self, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
        """The model that is validated, checkpointed as best and used for prediction."""
        return student

    def reported_models(self, student: nn.Module, teacher: nn.Module | None) -> dict[str, nn.Module]:
        """Models validated beside the evaluated one, by name (Mean Teacher reports its student)."""
        return {}

    def choose_evaluated(
        self, metric: str, evaluated: Mapping[str, float], reported: Mapping[str, Mapping[str, float]]
    ) -> str | None:
        """At a validation, the name of a reported model to keep as best instead, or None (the default).

        ``evaluated`` holds the evaluation model's validation metrics, ``reported`` those of each
        reported model; ``metric`` is the run's (higher is better). A model chosen here is the one
        whose weights the best checkpoint saves, and the checkpoint and ``summary.json`` name it
        (``evaluated``).
        """
        return None

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
    check_entry_shapes(logits, targets, weights)
    per_entry = nn.functional.binary_cross_entropy_with_logits(
        logits, targets, reduction="none", pos_weight=pos_weight
    )
    return weighted_mean(per_entry, weights)


def check_entry_shapes(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> None:
    """``ValueError`` unless a per-entry loss's three ``(batch, classes)`` inputs share one shape."""
    if logits.shape != targets.shape or logits.shape != weights.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)}, targets {tuple(targets.shape)} and weights "
            f"{tuple(weights.shape)} must have one shape"
        )


def weighted_mean(per_entry: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The mean of ``per_entry`` over the entries with non-zero weight (0 when every weight is 0)."""
    return (per_entry * weights).sum() / weights.sum().clamp_min(1.0)


def world_size() -> int:
    """Processes in the distributed run (1 when not distributed).

    A strategy that keeps per-clip state refuses more than one: each process sees only its
    share of the clips, and the checkpoint keeps the first process's state.
    """
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
