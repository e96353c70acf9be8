"""Evaluation: align a predictions file to labels and compute every number of the report.

Nothing here draws or writes: :func:`evaluate` returns an :class:`Evaluation` that
:mod:`earmark.report.pages` renders and :mod:`earmark.report.files` writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from earmark.data.labels import Labels, MaskMode
from earmark.metrics import summarize
from earmark.predictions import Predictions

__all__ = ["Evaluation", "evaluate"]


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Metrics of aligned predictions and labels, with the arrays they came from.

    Attributes
    ----------
    metrics
        JSON-safe dict (see :func:`earmark.metrics.summarize`) plus an ``inputs`` entry.
    predictions
        The predictions aligned to ``labels``.
    labels
        The labels of the predicted clips.
    mask
        (clips, classes) bool known entries, or None when missing entries count as negatives.

    """

    metrics: dict[str, Any]
    predictions: Predictions
    labels: Labels
    mask: np.ndarray | None


def evaluate(
    predictions: Predictions,
    labels: Labels,
    *,
    mask: MaskMode = "auto",
    class_to_group: Mapping[str, str | Sequence[str]] | None = None,
    threshold: float = 0.5,
    num_resamples: int = 0,
    rng: np.random.Generator | None = None,
) -> Evaluation:
    """Align ``predictions`` to ``labels`` and compute every metric.

    Parameters
    ----------
    predictions
        Scores of some or all labeled clips.
    labels
        True labels; clips without a prediction are left out.
    mask
        Which entries count (:meth:`Labels.evaluation_mask` of the predicted clips): ``"auto"``
        (the rule a run's own ``summary.json`` follows: missing entries of partly annotated
        labels are left out, of complete or positives-only labels count as negatives),
        ``"on"`` (annotated entries only) or ``"off"`` (missing = negative).
    class_to_group
        Optional class name → group name(s) for group aggregates.
    threshold
        Decision threshold of the F1 scores.
    num_resamples
        Bootstrap resamples for intervals of the headline metrics (0 = none).
    rng
        Generator of the bootstrap, required when ``num_resamples > 0``.

    Returns
    -------
    Evaluation

    """
    aligned, kept = predictions.align(labels)
    known = kept.evaluation_mask(mask)
    metrics = summarize(
        kept.positive,
        aligned.scores,
        class_names=kept.class_names,
        mask=known,
        threshold=threshold,
        class_to_group=class_to_group,
        rng=rng,
        num_resamples=num_resamples,
    )
    metrics["inputs"] = {
        "num_predicted_clips": predictions.num_clips,
        "num_labeled_clips": labels.num_clips,
        "frontend_hash": predictions.frontend_hash,
        "mask": mask,
        "missing_entries": int(kept.missing.sum()),
        "missing_entries_are": "negatives" if known is None else "left out (masked)",
    }
    return Evaluation(metrics, aligned, kept, known)
