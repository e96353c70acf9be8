"""``attention_mil``: attention-based multiple-instance model over per-frame embeddings.

Gururani & Lerch's model for missing labels, as in their released code (see METHODS.md, "The
released model"). Each frame (one instance, e.g. a VGGish, OpenL3 or aisfx embedding) goes
through, in order:

1. **standardisation** with per-dimension mean and std fitted on the training split's frames
   (:meth:`AttentionMilTagger.fit_input_statistics`, called by the Trainer on a new model; the
   statistics are buffers, so they travel in every checkpoint). A model that was never fitted
   standardises with mean 0 and std 1, i.e. not at all;
2. **batch norm on the input** (``input_norm``);
3. **the hidden block**, ``hidden_layers`` × (Linear → BatchNorm → ReLU → Dropout);
4. **a residual connection around the hidden block**: the block's output plus its input (the
   batch-normalised frames). The released model adds the two; both published settings (128-d
   VGGish with 128 units, 512-d OpenL3 with 512 units) have equal widths, and the released
   code says nothing of unequal ones. Here the residual is used exactly when the shapes allow
   it (``hidden_layers >= 1`` and ``hidden_units`` equal to the input dim; see
   :attr:`AttentionMilTagger.uses_residual`) and left out otherwise, rather than adding a
   learned projection the released model does not have;
5. **per-class attention in Kong et al.'s form** (pooling ``attention_sigmoid``): attention
   weights ``σ(u_t)`` normalised to sum to one over the valid frames, times per-frame sigmoid
   class probabilities. The model returns the logit of the pooled probability, computed exactly
   in log space (:func:`earmark.models.pooling.attention_sigmoid_pool`).

The defaults are their OpenMIC setting, 3 hidden layers of 128 units with dropout 0.6; for
SONYC-UST they used 1 hidden layer of 512 units, dropout 0.6. Each part can be switched off for
ablation; ``standardize: false, input_norm: false, hidden_norm: false, residual: false,
pooling: attention_probability`` is the model earmark had before (softmax attention over time,
no normalisation), which scored about 0.06 macro PR-AUC below the released code on ESC-mix.

All per-frame layers run on the valid frames only (gathered from the padded batch, then put
back; :mod:`earmark.models.framewise`), so batch-norm statistics ignore zero padding in
training as well as in evaluation. Any front-end fits: each frame is a vector of ``dim`` values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn

from earmark.models.base import TaggerModel, frontend_dim
from earmark.models.framewise import (
    Dropout,
    InputStandardizer,
    hidden_block,
    scatter_frames,
    valid_frames,
)
from earmark.models.pooling import Channels, HeadConfig, HiddenLayers, PoolingName
from earmark.models.registry import register_model
from earmark.spec import TaggingSpec

__all__ = ["AttentionMilConfig", "AttentionMilTagger"]


@dataclasses.dataclass(frozen=True)
class AttentionMilConfig(HeadConfig):
    """Options of ``attention_mil``.

    Parameters
    ----------
    hidden_layers
        Fully connected embedding layers (0 pools the input frames directly, after dropout).
    hidden_units
        Units of each embedding layer.
    standardize
        Standardise each input dimension with the training split's mean and std (as released).
    input_norm
        Batch-normalise each input dimension (as released).
    hidden_norm
        Batch norm after each hidden linear layer (as released).
    residual
        Add the hidden block's input to its output when the shapes allow it (as released; see
        the module docstring).

    """

    dropout: float = 0.6
    pooling: PoolingName = "attention_sigmoid"
    hidden_layers: HiddenLayers = 3
    hidden_units: Channels = 128
    standardize: bool = True
    input_norm: bool = True
    hidden_norm: bool = True
    residual: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()


class AttentionMilTagger(TaggerModel):
    """The ``attention_mil`` model: standardise, batch-norm, per-frame MLP (+ residual), attention."""

    def __init__(self, *, num_classes: int, input_dim: int, config: AttentionMilConfig) -> None:
        super().__init__(num_classes=num_classes, input_dim=input_dim, min_frames=1)
        self.config = config
        self.standardizer: nn.Module = InputStandardizer(input_dim) if config.standardize else nn.Identity()
        self.input_norm: nn.Module = nn.BatchNorm1d(input_dim) if config.input_norm else nn.Identity()
        block = hidden_block(
            input_dim, config.hidden_units, config.hidden_layers, config.dropout, norm=config.hidden_norm
        )
        if config.hidden_layers == 0:
            block.append(Dropout(config.dropout))
        self.layers = block
        width = config.hidden_units if config.hidden_layers else input_dim
        #: Whether the residual connection is in use (asked for, and the widths match).
        self.uses_residual = bool(config.residual and config.hidden_layers and width == input_dim)
        self.pooling = config.pooling_head(width, num_classes)

    def embed(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame embeddings ``(batch, frames, width)``, zero beyond ``lengths`` (kept as they are).

        ``width`` is ``hidden_units``, or the input dim without hidden layers.
        """
        frames, mask = valid_frames(features, lengths)
        normalized: Tensor = self.input_norm(self.standardizer(frames))
        hidden: Tensor = self.layers(normalized)
        if self.uses_residual:
            hidden = hidden + normalized
        return scatter_frames(hidden, mask, (features.shape[0], features.shape[1])), lengths

    @torch.jit.unused
    def fit_input_statistics(self, clips: Iterable[np.ndarray]) -> None:
        """Fit the standardisation on every frame of the training ``clips`` (each ``(frames, dim)``).

        Does nothing with ``standardize: false``. Raises ``ValueError`` naming the clip whose
        shape is not ``(num_frames, input_dim)`` or whose values are not finite, or when there
        are no frames at all.
        """
        if isinstance(self.standardizer, InputStandardizer):
            self.standardizer.fit(clips)


@register_model("attention_mil", AttentionMilConfig)
def build_attention_mil(spec: TaggingSpec, config: AttentionMilConfig) -> AttentionMilTagger:
    """Build ``attention_mil`` for any front-end (each frame is one instance of ``dim`` values)."""
    return AttentionMilTagger(num_classes=spec.num_classes, input_dim=frontend_dim(spec), config=config)
