"""``crnn``: the ``cnn`` trunk, then a bidirectional GRU or LSTM over time, then clip pooling.

The FSDKaggle2019 multi-stage system defined CNN+GRU and CNN+LSTM variants of its 4-block CNN;
here they are one model with ``rnn: gru | lstm``. With the default options (the ``cnn`` trunk
at width 0.375 and 64 hidden units per direction) it has about 0.76 M parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from torch import Tensor, nn
from torch.nn.utils import rnn as rnn_utils

from earmark.config import ConfigError, Range
from earmark.models.base import TaggerModel, require_logmel
from earmark.models.cnn import CnnConfig, ConvTrunk, scale_channels
from earmark.models.pooling import Channels
from earmark.models.registry import register_model
from earmark.spec import TaggingSpec

__all__ = ["CrnnConfig", "CrnnTagger"]


@dataclasses.dataclass(frozen=True)
class CrnnConfig(CnnConfig):
    """Options of ``crnn``: those of ``cnn`` plus the recurrent layer.

    Parameters
    ----------
    rnn
        ``"gru"`` or ``"lstm"``.
    rnn_hidden
        Hidden units per direction (the embeddings have twice as many channels).
    rnn_layers
        Stacked recurrent layers.

    """

    rnn: Literal["gru", "lstm"] = "gru"
    rnn_hidden: Channels = 64
    rnn_layers: Annotated[int, Range(gt=0, le=64)] = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rnn not in ("gru", "lstm"):
            raise ConfigError(f"rnn must be 'gru' or 'lstm', got {self.rnn!r}")


class CrnnTagger(TaggerModel):
    """The ``crnn`` model: conv trunk, bidirectional RNN, dropout, clip pooling."""

    def __init__(self, *, num_classes: int, n_mels: int, config: CrnnConfig) -> None:
        channels = scale_channels(config.channels, config.width_multiplier)
        super().__init__(num_classes=num_classes, input_dim=n_mels, min_frames=2 ** len(channels))
        self.config = config
        self.trunk = ConvTrunk(n_mels, channels, config.input_norm)
        rnn_class = nn.GRU if config.rnn == "gru" else nn.LSTM
        self.rnn = rnn_class(
            self.trunk.out_channels,
            config.rnn_hidden,
            num_layers=config.rnn_layers,
            batch_first=True,
            bidirectional=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.pooling = config.pooling_head(2 * config.rnn_hidden, num_classes)

    def embed(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame embeddings ``(batch, frames // 16, 2 * rnn_hidden)`` (with four blocks).

        The recurrent layer runs on packed sequences, so its backward direction starts at each
        row's last valid frame, not in the padding.
        """
        sequence, lengths = self.trunk(features, lengths)
        packed = rnn_utils.pack_padded_sequence(
            sequence, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, _ = self.rnn(packed)
        unpacked, _ = rnn_utils.pad_packed_sequence(outputs, batch_first=True, total_length=sequence.shape[1])
        embeddings: Tensor = self.dropout(unpacked)
        return embeddings, lengths


@register_model("crnn", CrnnConfig)
def build_crnn(spec: TaggingSpec, config: CrnnConfig) -> CrnnTagger:
    """Build ``crnn`` for a log-mel spec with at least ``2 ** len(channels)`` mel bands."""
    n_mels = require_logmel(spec, "crnn", min_mel_bands=2 ** len(config.channels))
    return CrnnTagger(num_classes=spec.num_classes, n_mels=n_mels, config=config)
