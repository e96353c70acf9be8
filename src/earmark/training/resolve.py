"""Resolve a training config: every nested option built through its registry, defaults filled in.

:class:`~earmark.training.config.TrainConfig` keeps ``model_options``, ``strategy_options`` and
``augment`` as plain mappings, because which dataclass they fill depends on the model, strategy
and transforms they sit beside. :func:`resolve` builds each through the config dataclass its
registry holds (:data:`~earmark.models.MODELS`, :data:`~earmark.strategies.STRATEGIES`,
:data:`~earmark.augment.AUGMENTATIONS`), strictly, and writes the full values back::

    model: cnn
    model_options: {dropout: 0.2}        ->  model_options: {channels: [...], dropout: 0.2, ...}
    strategy: mean_teacher
    strategy_options: {alpah: 0.9}       ->  ConfigError: strategy 'mean_teacher': unknown config
                                             key strategy_options.alpah; valid keys: ...

Recipes are resolved where they are loaded (``earmark train`` / ``cv``, pipelines, searches), so
a misspelled option fails before any training, and a run writes the resolved config: the values
it used, not the defaults of the day it is read back. Resolving is idempotent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from earmark.augment import AUGMENTATIONS
from earmark.config import ConfigError, to_dict
from earmark.models import MODELS
from earmark.strategies import STRATEGIES
from earmark.training.config import TrainConfig

__all__ = ["resolve", "resolve_augment"]


def resolve(config: TrainConfig) -> TrainConfig:
    """``config`` with its model, strategy and augmentation options built strictly and in full.

    Parameters
    ----------
    config
        A training config whose nested options are as written (possibly partial).

    Returns
    -------
    TrainConfig
        The same config with ``model_options``, ``strategy_options`` and ``augment`` holding
        every field of their config dataclasses as plain YAML data (defaults filled in).

    Raises
    ------
    ConfigError
        An unknown model, strategy or augmentation name, or an unknown, mistyped or invalid
        option; the message names the component and the dotted key (``model_options.dropuot``).

    """
    model = MODELS.config(config.model, config.model_options, key="model_options")
    strategy = STRATEGIES.config(config.strategy, config.strategy_options, key="strategy_options")
    return dataclasses.replace(
        config,
        model_options=to_dict(model),
        strategy_options=to_dict(strategy),
        augment=resolve_augment(config.augment),
    )


def resolve_augment(augment: Mapping[str, Any]) -> dict[str, Any]:
    """The ``augment`` section with each transform's options in full, in the order written.

    A transform written without options (``specaugment: {}`` or ``specaugment:``) gets its
    defaults; an unknown transform or key raises :class:`~earmark.config.ConfigError`.
    """
    if not isinstance(augment, Mapping):
        raise ConfigError(f"augment must map transform names to their options, got {augment!r}")
    return {
        str(name): to_dict(AUGMENTATIONS.config(str(name), options, key=f"augment.{name}"))
        for name, options in augment.items()
    }
