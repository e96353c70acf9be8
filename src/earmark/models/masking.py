"""Padding masks through a model: which frames of a padded batch are real, layer after layer.

A batch holds clips of different lengths zero-padded at the end to one length. The padding is
not silence (a zero in a log-mel array is loud broadband noise), so every model carries the
number of valid frames of each row, ``lengths`` ``(batch,)`` int64, through its layers:

* before each layer that mixes time (a convolution or pooling with a time kernel > 1, a
  recurrent layer, a squeeze-and-excitation average), the padded positions are set to zero,
  which is exactly the zero padding the layer would apply at the end of an unpadded clip;
* after a layer that changes the frame rate, ``lengths`` follows PyTorch's output-length
  formula for that layer, ``floor((L + 2p - d (k - 1) - 1) / s) + 1``;
* the clip pooling (:mod:`earmark.models.pooling`) ignores frames at or beyond ``lengths``.

So, in eval mode, a clip padded to any length scores exactly as the clip alone (tested for
every model and pooling). In training mode, batch norm still sees the padded positions of a
convolutional model in its batch statistics; the frame-wise models (``attention_mil``,
``linear``, ``mlp``) compute them on valid frames only. A row always keeps at least one valid
frame, so a clip shorter than a model's ``min_frames`` still gets a score (from its one
padded-out frame) rather than none.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

__all__ = [
    "conv_lengths",
    "frame_mask",
    "full_lengths",
    "layer_lengths",
    "masked_mean",
    "run_masked",
    "zero_padding",
]


def full_lengths(features: Tensor, lengths: Optional[Tensor]) -> Tensor:  # noqa: UP045 (TorchScript)
    """``lengths`` as int64 on the features' device, clamped to ``[1, frames]``; all frames if None."""
    frames = features.shape[1]
    if lengths is None:
        return torch.full((features.shape[0],), frames, dtype=torch.long, device=features.device)
    return lengths.to(device=features.device, dtype=torch.long).clamp(1, frames)


def frame_mask(lengths: Tensor, frames: int) -> Tensor:
    """Boolean ``(batch, frames)``: True where the frame index is below the row's length."""
    positions = torch.arange(frames, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def zero_padding(maps: Tensor, lengths: Tensor, time_dim: int) -> Tensor:
    """``maps`` with every position at or beyond ``lengths`` along ``time_dim`` set to zero."""
    mask = frame_mask(lengths, maps.shape[time_dim])
    shape = [1] * maps.dim()
    shape[0] = maps.shape[0]
    shape[time_dim] = maps.shape[time_dim]
    return maps * mask.view(shape).to(maps.dtype)


def conv_lengths(lengths: Tensor, kernel: int, stride: int, padding: int, dilation: int) -> Tensor:
    """Output lengths of a convolution or pooling over time, at least 1."""
    out = torch.div(lengths + 2 * padding - dilation * (kernel - 1) - 1, stride, rounding_mode="floor") + 1
    return out.clamp(min=1)


def _first(value: int | tuple[int, ...] | str) -> int:
    if isinstance(value, str):  # padding="same" keeps the length; treated by the caller
        return 0
    return int(value[0]) if isinstance(value, tuple) else int(value)


def layer_lengths(layer: nn.Module, lengths: Tensor) -> tuple[Tensor, bool]:
    """Lengths after ``layer`` and whether the layer mixes neighbouring frames.

    Convolutions and poolings (1-D over ``(B, C, L)``, 2-D over ``(B, C, T, F)``, time first)
    follow their output-length formula; every other layer is taken to work frame by frame.
    """
    if isinstance(layer, nn.Conv1d | nn.Conv2d):
        kernel, stride = _first(layer.kernel_size), _first(layer.stride)
        dilation = _first(layer.dilation)
        if layer.padding == "same":
            return lengths, kernel > 1
        padding = _first(layer.padding)
        return conv_lengths(lengths, kernel, stride, padding, dilation), kernel > 1
    if isinstance(layer, nn.AvgPool1d | nn.AvgPool2d | nn.MaxPool1d | nn.MaxPool2d):
        kernel = _first(layer.kernel_size)
        stride = _first(layer.stride if layer.stride is not None else layer.kernel_size)
        padding = _first(layer.padding)
        dilation = _first(getattr(layer, "dilation", 1))
        return conv_lengths(lengths, kernel, stride, padding, dilation), kernel > 1
    return lengths, False


def run_masked(layers: nn.Sequential, maps: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Apply ``layers`` in order to ``maps`` (time on dim 2), zeroing the padding before mixing.

    A child with a ``forward_masked(maps, lengths)`` method handles its own padding (residual
    blocks, squeeze-and-excitation); convolutions and poolings get their input's padding zeroed
    and update the lengths; other children act frame by frame.
    """
    for layer in layers:
        masked_forward = getattr(layer, "forward_masked", None)
        if masked_forward is not None:
            maps, lengths = masked_forward(maps, lengths)
            continue
        new_lengths, mixes = layer_lengths(layer, lengths)
        if mixes:
            maps = zero_padding(maps, lengths, time_dim=2)
        maps = layer(maps)
        lengths = new_lengths
    return maps, lengths


def masked_mean(values: Tensor, lengths: Tensor, dim: int) -> Tensor:
    """Mean of ``values`` over the valid positions of ``dim`` (the time axis)."""
    zeroed = zero_padding(values, lengths, time_dim=dim)
    shape = [1] * values.dim()
    shape[0] = values.shape[0]
    counts = lengths.to(values.dtype).view(shape)
    return zeroed.sum(dim=dim, keepdim=True).div(counts).squeeze(dim)
