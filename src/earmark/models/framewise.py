"""Building blocks of the frame-wise models (``attention_mil``, ``linear``, ``mlp``).

Two things these models share:

* **Input standardisation fitted on the training split.** :class:`RunningMoments` accumulates
  per-dimension means and variances clip by clip in float64 (Chan et al.'s pairwise update, so
  a large common offset does not cancel the variance away), and :class:`InputStandardizer` keeps
  the result as buffers, which travel in every ``state_dict`` and checkpoint. A model that was
  never fitted standardises with mean 0 and std 1, i.e. not at all.
* **Per-frame layers on the valid frames only.** :func:`valid_frames` gathers the real frames of
  a padded batch into ``(valid_frames, dim)``, the per-frame layers run on that, and
  :func:`scatter_frames` puts the result back into a zero ``(batch, frames, channels)`` tensor.
  Batch norm then computes its training statistics on real frames only, so training on a padded
  batch is exact too, not only inference.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn

from earmark.config import ConfigError
from earmark.models.masking import frame_mask

__all__ = [
    "STD_FLOOR_RATIO",
    "Dropout",
    "InputStandardizer",
    "RunningMoments",
    "check_clip_frames",
    "check_hidden_shape",
    "floor_std",
    "hidden_block",
    "scatter_frames",
    "valid_frames",
]

#: A standard deviation is floored at this share of the root-mean-square std over dimensions,
#: so a dimension that is (nearly) constant in training cannot blow up at test time.
STD_FLOOR_RATIO = 0.01


class RunningMoments:
    """Per-dimension count, mean and sum of squared deviations, accumulated in float64.

    Each :meth:`update` merges a block of rows with the pairwise formula of Chan et al.
    (``M2 = M2_a + M2_b + δ² n_a n_b / n``), which stays accurate when the values share a large
    offset, where a running sum of squares would lose every digit of the variance.

    Parameters
    ----------
    dim
        Values per row.

    """

    def __init__(self, dim: int) -> None:
        self.count = 0
        self.mean = np.zeros(dim, dtype=np.float64)
        self.squared_deviations = np.zeros(dim, dtype=np.float64)

    def update(self, rows: np.ndarray) -> None:
        """Merge ``rows`` ``(num_rows, dim)`` (any float dtype; computed in float64)."""
        rows = np.asarray(rows, dtype=np.float64)
        added = rows.shape[0]
        if added == 0:
            return
        block_mean = rows.mean(axis=0)
        block_squares = ((rows - block_mean) ** 2).sum(axis=0)
        total = self.count + added
        delta = block_mean - self.mean
        self.mean = self.mean + delta * (added / total)
        self.squared_deviations += block_squares + delta**2 * (self.count * added / total)
        self.count = total

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation ``(dim,)`` (zeros before any update)."""
        if self.count == 0:
            return np.zeros_like(self.mean)
        return np.sqrt(self.squared_deviations / self.count)


def floor_std(std: np.ndarray, ratio: float = STD_FLOOR_RATIO) -> np.ndarray:
    """``std`` floored at ``ratio`` × its root-mean-square over dimensions; all ones if all zero."""
    typical = float(np.sqrt(np.mean(np.square(std)))) if std.size else 0.0
    if typical == 0.0:
        return np.ones_like(std)
    floored: np.ndarray = np.maximum(std, ratio * typical)
    return floored


def check_clip_frames(clip: np.ndarray, index: int, dim: int) -> np.ndarray:
    """``clip`` as float64 frames ``(num_frames, dim)``, or ``ValueError`` naming the clip."""
    frames = np.asarray(clip)
    if frames.ndim != 2 or frames.shape[1] != dim:
        raise ValueError(
            f"training clip {index}: expected frames of shape (num_frames, {dim}), got {frames.shape}"
        )
    frames = frames.astype(np.float64)
    if not np.isfinite(frames).all():
        raise ValueError(f"training clip {index} holds NaN or infinite values; re-prepare its features")
    return frames


class InputStandardizer(nn.Module):
    """``(x − mean) / std`` per dimension, with ``mean`` and ``std`` fitted on training frames.

    The buffers ``mean`` and ``std`` ``(dim,)`` float32 and ``fitted_frames`` (how many frames
    they were fitted on; 0 = never fitted) are part of the ``state_dict``. Before :meth:`fit`
    the mean is 0 and the std 1, so the module is the identity. Forward passes never change the
    statistics, in training mode or not.

    Parameters
    ----------
    dim
        Values per frame.

    """

    mean: Tensor
    std: Tensor
    fitted_frames: Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("fitted_frames", torch.zeros((), dtype=torch.long))

    def forward(self, frames: Tensor) -> Tensor:
        """Standardised ``frames`` (any leading shape, last dim ``dim``)."""
        return (frames - self.mean) / self.std

    @torch.jit.unused
    def set_statistics(self, moments: RunningMoments) -> None:
        """Store ``moments``' mean and floored std (see :func:`floor_std`)."""
        if moments.count == 0:
            raise ValueError("no training frames to fit the input standardisation on")
        self.mean.copy_(torch.from_numpy(moments.mean))
        self.std.copy_(torch.from_numpy(floor_std(moments.std)))
        self.fitted_frames.fill_(moments.count)

    @torch.jit.unused
    def fit(self, clips: Iterable[np.ndarray]) -> RunningMoments:
        """Fit on every frame of ``clips`` (each ``(num_frames, dim)``); returns the moments."""
        moments = RunningMoments(self.mean.shape[0])
        for index, clip in enumerate(clips):
            moments.update(check_clip_frames(clip, index, self.mean.shape[0]))
        self.set_statistics(moments)
        return moments


def valid_frames(features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | None]:
    """The real frames of a padded batch and where they were.

    Parameters
    ----------
    features
        ``(batch, frames, dim)``, zero-padded beyond ``lengths``.
    lengths
        Valid frames of each row ``(batch,)``.

    Returns
    -------
    frames : Tensor
        ``(sum(lengths), dim)``, row by row in time order.
    mask : Tensor or None
        Boolean ``(batch, frames)``, True at the gathered positions; None when no row is padded
        (the frames are then a reshape of ``features``, no gather needed).

    """
    batch, length, dim = features.shape
    if bool((lengths >= length).all()):
        return features.reshape(batch * length, dim), None
    mask = frame_mask(lengths.to(features.device), length)
    return features[mask], mask


def scatter_frames(values: Tensor, mask: Tensor | None, shape: tuple[int, int]) -> Tensor:
    """Put per-frame ``values`` ``(valid_frames, channels)`` back at ``mask``; zeros elsewhere.

    The inverse of :func:`valid_frames` for a batch of ``shape`` ``(batch, frames)``: returns
    ``(batch, frames, channels)``.
    """
    if mask is None:
        return values.reshape(shape[0], shape[1], values.shape[1])
    out = values.new_zeros(mask.shape[0], mask.shape[1], values.shape[1])
    out[mask] = values
    return out


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` drawing its mask from uniform noise (``rand >= p``).

    The same distribution as ``nn.Dropout``, but on a CPU about twice as fast forward and
    backward: ``nn.Dropout`` draws Bernoulli variates, which for the small per-frame layers of
    embedding models was a tenth of a training step.
    """

    def forward(self, input: Tensor) -> Tensor:
        """``input`` with a share ``p`` of its values zeroed and the rest scaled by ``1 / (1 - p)``."""
        if not self.training or self.p == 0.0:
            return input
        if self.p == 1.0:
            return input * 0.0
        keep = (torch.rand_like(input) >= self.p).to(input.dtype).mul_(1.0 / (1.0 - self.p))
        return input * keep


def hidden_block(in_features: int, units: int, layers: int, dropout: float, *, norm: bool) -> nn.Sequential:
    """``layers`` × (Linear → BatchNorm → ReLU → Dropout) on rows ``(n, in_features)``.

    With ``norm`` off the batch norm is left out (and the linear layers get a bias, which batch
    norm would cancel). Zero layers give an empty block (the identity).
    """
    modules: list[nn.Module] = []
    width = in_features
    for _ in range(layers):
        modules.append(nn.Linear(width, units, bias=not norm))
        if norm:
            modules.append(nn.BatchNorm1d(units))
        modules += [nn.ReLU(inplace=True), Dropout(dropout)]
        width = units
    return nn.Sequential(*modules)


def check_hidden_shape(hidden_layers: int, hidden_units: int) -> None:
    """``ConfigError`` unless ``hidden_layers >= 0`` and ``hidden_units > 0``."""
    if hidden_layers < 0:
        raise ConfigError(f"hidden_layers must be >= 0, got {hidden_layers}")
    if hidden_units <= 0:
        raise ConfigError(f"hidden_units must be positive, got {hidden_units}")
