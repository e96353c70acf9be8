"""The model registry, and the contract every earmark model follows.

A model is registered with ``@register_model(name, ConfigClass)`` on a builder
``build(spec: TaggingSpec, config: ConfigClass) -> TaggerModel``; :func:`build_model` validates
the options strictly (:func:`earmark.config.from_dict`) and calls the builder.

The contract (checked for every registered model by ``tests/models``):

* ``forward(features, lengths=None)`` takes float32 features ``(batch, frames, dim)`` and the
  valid frames of each row ``(batch,)`` (the rest is zero-padding, which the model ignores:
  :mod:`earmark.models.masking`), and returns clip-level **logits** ``(batch, num_classes)``,
  never probabilities (apply a sigmoid for scores). In eval mode a padded clip scores exactly
  as the clip alone, for every model and pooling.
* ``dim`` equals the spec's front-end dim (``n_mels``, ``frame_samples`` or the embedding
  ``dim``; attribute ``input_dim``); ``frames`` may be any number ≥ the attribute
  ``min_frames``, because every model ends in a global pooling over time, so inference can run
  on whole clips as well as on the spec's ``segment_frames``. Wrong shapes raise ``ValueError``.
* The builder checks that the model fits the spec (front-end kind, enough mel bands,
  ``min_frames <= segment_frames``) and raises ``ValueError`` saying what does not fit and what
  to use instead.
* Dropout is the only randomness in ``forward`` (Mean Teacher uses it as noise); in eval mode a
  forward pass is deterministic. Construction uses torch's global generator, so
  ``torch.manual_seed`` before :func:`build_model` repeats the initial weights exactly.
* Models work with ``torch.jit.trace`` (with or without ``lengths``) and round-trip through
  ``state_dict``; ``num_parameters()`` gives the size and ``embed(features, lengths)`` the
  per-frame embeddings ``(batch, frames_out, channels)`` before the pooling head, with their
  valid lengths.

Registered models: ``cnn``, ``crnn``, ``resnet``, ``se_resnet``, ``mobilenet``,
``attention_mil``, ``linear``, ``mlp``, ``waveform`` (see each module for its config and default
size).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from earmark.config import ConfigError, from_dict
from earmark.models.base import TaggerModel
from earmark.spec import TaggingSpec

__all__ = ["MODELS", "ModelEntry", "build_model", "model_config", "register_model"]

C = TypeVar("C")
Builder = Callable[[TaggingSpec, C], TaggerModel]


@dataclasses.dataclass(frozen=True)
class ModelEntry(Generic[C]):
    """A registered model: its name, config dataclass and builder."""

    name: str
    config_class: type[C]
    builder: Builder[C]


#: Registered models by name.
MODELS: dict[str, ModelEntry[Any]] = {}


def register_model(name: str, config_class: type[C]) -> Callable[[Builder[C]], Builder[C]]:
    """Decorator registering ``build(spec, config) -> TaggerModel`` under ``name``.

    Raises
    ------
    ValueError
        When ``name`` is already registered.
    TypeError
        When ``config_class`` is not a dataclass.

    """
    if not dataclasses.is_dataclass(config_class):
        raise TypeError(f"the config of model {name!r} must be a dataclass, got {config_class!r}")

    def decorate(builder: Builder[C]) -> Builder[C]:
        if name in MODELS:
            previous = MODELS[name].builder
            raise ValueError(
                f"model {name!r} is already registered by {previous.__module__}.{previous.__qualname__}"
            )
        MODELS[name] = ModelEntry(name, config_class, builder)
        return builder

    return decorate


def _entry(name: str) -> ModelEntry[Any]:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def model_config(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """The config dataclass of model ``name`` built strictly from ``options``.

    Unknown option keys and wrong types raise :class:`~earmark.config.ConfigError` naming the
    key and the model.
    """
    entry = _entry(name)
    try:
        return from_dict(entry.config_class, options)
    except ConfigError as error:
        raise ConfigError(f"model {name!r}: {error}") from error


def build_model(name: str, spec: TaggingSpec, options: Mapping[str, Any] | None = None) -> TaggerModel:
    """Build model ``name`` for ``spec`` with ``options`` (the fields of its config).

    Parameters
    ----------
    name
        A key of :data:`MODELS`.
    spec
        The task spec; gives the number of classes and the front-end the model must fit.
    options
        Config fields; missing fields take their defaults.

    Returns
    -------
    TaggerModel
        A freshly initialised model (weights from torch's global generator).

    Raises
    ------
    ConfigError
        Unknown model name or option key, or an invalid option value.
    ValueError
        The model does not fit the spec.

    """
    entry = _entry(name)
    config = model_config(name, options)
    model = entry.builder(spec, config)
    if not isinstance(model, TaggerModel):
        raise TypeError(f"the builder of model {name!r} returned {type(model).__name__}, not a TaggerModel")
    if model.min_frames > spec.segment_frames:
        raise ValueError(
            f"model {name!r} needs at least {model.min_frames} frames per input but the spec's "
            f"segment_frames is {spec.segment_frames}; raise segment_frames or use a model with "
            "less downsampling"
        )
    return model
