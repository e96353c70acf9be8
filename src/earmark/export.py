"""Exporting a trained model: TorchScript or ONNX, checked against the PyTorch model.

The exported model takes features ``(batch, frames, dim)`` (any batch and any number of frames
from the model's ``min_frames`` on) and returns clip logits ``(batch, classes)``; the spec is
written beside it as ``<name>.spec.json`` so users know the front-end to feed it. Every export
is run on inputs of two lengths and compared with the eager model before it is kept.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from earmark.errors import EarmarkError
from earmark.io import atomic_path, write_text_atomic
from earmark.spec import TaggingSpec

__all__ = ["ExportError", "export_model"]

Format = Literal["torchscript", "onnx"]
TOLERANCE = 1e-4


class ExportError(EarmarkError):
    """The export is impossible here, or its outputs differ from the PyTorch model's."""


def _examples(spec: TaggingSpec, dim: int, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    lengths = (spec.segment_frames, 2 * spec.segment_frames + 3, 3 * spec.segment_frames + 7)
    return [torch.randn(2, n, dim, generator=generator) for n in lengths]


def _check(name: str, eager: nn.Module, run: object, examples: list[torch.Tensor]) -> float:
    worst = 0.0
    for features in examples:
        with torch.inference_mode():
            expected = eager(features).numpy()
        got = np.asarray(run(features))  # type: ignore[operator]
        if got.shape != expected.shape:
            raise ExportError(f"{name} output has shape {got.shape}, the model's {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    if worst > TOLERANCE:
        raise ExportError(f"{name} outputs differ from the PyTorch model's by {worst:.2e} (> {TOLERANCE})")
    return worst


def export_model(model: nn.Module, spec: TaggingSpec, path: str | Path, fmt: Format) -> float:
    """Export ``model`` to ``path`` in format ``fmt``; returns the largest output difference seen."""
    from earmark.features.frontend import build_frontend

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    dim = int(getattr(model, "input_dim", build_frontend(spec.frontend).dim))
    examples = _examples(spec, dim)
    with atomic_path(path) as temporary, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter warnings about shape checks
        if fmt == "torchscript":
            traced = torch.jit.trace(model, examples[0], check_trace=False)  # type: ignore[no-untyped-call]
            traced.save(str(temporary))
            loaded = torch.jit.load(str(temporary))  # type: ignore[no-untyped-call]
            worst = _check("TorchScript", model, lambda x: loaded(x).detach().numpy(), examples)
        elif fmt == "onnx":
            worst = _export_onnx(model, examples, temporary)
        else:
            raise ExportError(f"unknown export format {fmt!r}; use torchscript or onnx")
    spec_path = path.with_name(path.name.split(".")[0] + ".spec.json")
    write_text_atomic(spec_path, json.dumps(spec.to_dict(), indent=2))
    return worst


def _export_onnx(model: nn.Module, examples: list[torch.Tensor], path: Path) -> float:
    try:
        import onnxruntime
    except ImportError as error:
        raise ExportError(
            "ONNX export needs the 'export' extra: pip install 'earmark[export]' (onnx, onnxruntime)"
        ) from error
    torch.onnx.export(
        model,
        (examples[0],),
        str(path),
        input_names=["features"],
        output_names=["logits"],
        dynamic_axes={"features": {0: "batch", 1: "frames"}, "logits": {0: "batch"}},
        dynamo=False,
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return _check("ONNX", model, lambda x: session.run(None, {"features": x.numpy()})[0], examples)
