"""``attention_mil``: attention-based multiple-instance model over per-frame embeddings.

Gururani & Lerch's model for missing labels: each frame (one instance, e.g. a VGGish, OpenL3 or
aisfx embedding per second) goes through fully connected embedding layers (ReLU, dropout), then
decision-level attention pools per-frame class probabilities over time with per-frame,
per-class attention weights (a softmax over time). The defaults are their OpenMIC setting,
3 hidden layers of 128 units with dropout 0.6 (about 0.05 M parameters for 128-d inputs and 20
classes); for SONYC-UST they used 1 hidden layer of 512 units, dropout 0.6.

The pooled quantity is a probability; the model returns its logit, computed exactly in log space
(see :func:`earmark.models.pooling.attention_probability_pool`), to keep the logits contract.
Any front-end fits: each frame is simply a vector of ``dim`` values.
"""

from __future__ import annotations

import dataclasses

from torch import Tensor, nn

from earmark.config import ConfigError
from earmark.models.base import TaggerModel, frontend_dim
from earmark.models.pooling import HeadConfig, PoolingName
from earmark.models.registry import register_model
from earmark.spec import TaggingSpec

__all__ = ["AttentionMilConfig", "AttentionMilTagger"]


@dataclasses.dataclass(frozen=True)
class AttentionMilConfig(HeadConfig):
    """Options of ``attention_mil``.

    Parameters
    ----------
    hidden_layers
        Fully connected embedding layers (0 pools the input frames directly).
    hidden_units
        Units of each embedding layer.
    input_norm
        Batch-normalise each input dimension (off in the published setting).

    """

    dropout: float = 0.6
    pooling: PoolingName = "attention_probability"
    hidden_layers: int = 3
    hidden_units: int = 128
    input_norm: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_layers < 0:
            raise ConfigError(f"hidden_layers must be >= 0, got {self.hidden_layers}")
        if self.hidden_units <= 0:
            raise ConfigError(f"hidden_units must be positive, got {self.hidden_units}")


class AttentionMilTagger(TaggerModel):
    """The ``attention_mil`` model: per-frame MLP, then (by default) probability attention pooling."""

    def __init__(self, *, num_classes: int, input_dim: int, config: AttentionMilConfig) -> None:
        super().__init__(num_classes=num_classes, input_dim=input_dim, min_frames=1)
        self.config = config
        self.input_norm: nn.Module = nn.BatchNorm1d(input_dim) if config.input_norm else nn.Identity()
        layers: list[nn.Module] = []
        width = input_dim
        for _ in range(config.hidden_layers):
            layers += [
                nn.Linear(width, config.hidden_units),
                nn.ReLU(inplace=True),
                nn.Dropout(config.dropout),
            ]
            width = config.hidden_units
        if not layers:
            layers.append(nn.Dropout(config.dropout))
        self.layers = nn.Sequential(*layers)
        self.pooling = config.pooling_head(width, num_classes)

    def embed(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame embeddings ``(batch, frames, hidden_units)``; frame-wise, so lengths are kept."""
        normalized: Tensor = self.input_norm(features.transpose(1, 2))
        embeddings: Tensor = self.layers(normalized.transpose(1, 2))
        return embeddings, lengths


@register_model("attention_mil", AttentionMilConfig)
def build_attention_mil(spec: TaggingSpec, config: AttentionMilConfig) -> AttentionMilTagger:
    """Build ``attention_mil`` for any front-end (each frame is one instance of ``dim`` values)."""
    return AttentionMilTagger(num_classes=spec.num_classes, input_dim=frontend_dim(spec), config=config)
