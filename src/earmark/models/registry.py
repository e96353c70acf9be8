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

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from earmark.models.base import TaggerModel
from earmark.registry import Registry
from earmark.spec import TaggingSpec

__all__ = ["MODELS", "build_model", "model_config", "register_model"]

C = TypeVar("C")
Builder = Callable[[TaggingSpec, C], TaggerModel]

#: Registered models: name -> builder, each entry with its config dataclass.
MODELS: Registry[Builder[Any]] = Registry("model")


def register_model(name: str, config_class: type[C]) -> Callable[[Builder[C]], Builder[C]]:
    """Decorator registering ``build(spec, config) -> TaggerModel`` under ``name``.

    Raises
    ------
    ValueError
        When ``name`` is already registered.
    TypeError
        When ``config_class`` is not a dataclass.

    """
    return MODELS.register(name, config_class)


def model_config(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """The config dataclass of model ``name`` built strictly from ``options``.

    Unknown option keys and wrong types raise :class:`~earmark.config.ConfigError` naming the
    key and the model.
    """
    return MODELS.config(name, options)


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
    config = model_config(name, options)
    model = MODELS[name](spec, config)
    if not isinstance(model, TaggerModel):
        raise TypeError(f"the builder of model {name!r} returned {type(model).__name__}, not a TaggerModel")
    if model.min_frames > spec.segment_frames:
        raise ValueError(
            f"model {name!r} needs at least {model.min_frames} frames per input but the spec's "
            f"segment_frames is {spec.segment_frames}; raise segment_frames or use a model with "
            "less downsampling"
        )
    return model
