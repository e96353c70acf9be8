"""Every metric of a prediction set at once, as plain JSON-safe data.

:func:`summarize` computes each metric of the table :data:`earmark.metrics.METRICS` with its
per-class values, exclusions, group aggregates and, when asked, bootstrap intervals of the
headline metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from earmark.metrics._common import ClassScores, EvalArrays, UndefinedMetricError, check_inputs
from earmark.metrics.accuracy import confusion_matrix, top_k_accuracy
from earmark.metrics.bootstrap import bootstrap_ci
from earmark.metrics.groups import group_means, metric_by_group
from earmark.metrics.ranking import lwlrap
from earmark.metrics.table import HEADLINE_METRICS, METRICS, MetricInputs

__all__ = ["is_single_label", "summarize"]


def is_single_label(y_true: np.ndarray, mask: np.ndarray | None = None) -> bool:
    """Tell whether every clip has exactly one positive and every entry is known."""
    positive = np.asarray(y_true).astype(bool)
    fully_known = mask is None or bool(np.asarray(mask).all())
    return fully_known and positive.shape[0] > 0 and bool((positive.sum(axis=1) == 1).all())


def summarize(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    class_names: Sequence[str],
    mask: np.ndarray | None = None,
    threshold: float = 0.5,
    class_to_group: Mapping[str, str | Sequence[str]] | None = None,
    rng: np.random.Generator | None = None,
    num_resamples: int = 0,
    top_k: Sequence[int] = (1, 3, 5),
) -> dict[str, Any]:
    """All metrics of ``(clips, classes)`` labels and scores as JSON-safe data.

    Parameters
    ----------
    y_true
        (clips, classes) bool or 0/1.
    scores
        (clips, classes) float.
    class_names
        names of the columns.
    mask
        (clips, classes) bool, optional known entries.
    threshold
        decision threshold of the F1 scores (``score >= threshold``).
    class_to_group
        optional class name → group name(s) map for group aggregates.
    rng
        generator of the bootstrap; required when ``num_resamples > 0``.
    num_resamples
        bootstrap resamples for the headline metrics (0 = no intervals).
    top_k
        the k of top-k accuracy (single-label data only).

    Returns
    -------
    dict with ``counts``, ``summary`` (name → float, or None when undefined, with the reason
    in ``undefined``), ``per_class`` (metric → values and excluded classes), and when they
    apply ``intervals``, ``groups`` and ``single_label``.

    """
    arrays = check_inputs(y_true, scores, mask, class_names=class_names)
    names = arrays.class_names
    positive, score_array = arrays.positive, arrays.scores
    known = arrays.known if arrays.masked else None
    single = is_single_label(positive, known)
    inputs = MetricInputs(positive, score_array, known, names, threshold)
    summary: dict[str, float | None] = {}
    undefined: dict[str, str] = {}
    per_class: dict[str, ClassScores] = {}
    per_class_out: dict[str, dict[str, Any]] = {}
    for name, info in METRICS.items():
        if info.single_label and not single:
            continue
        try:
            result = info.compute(inputs)
        except UndefinedMetricError as error:
            summary[name], undefined[name] = None, str(error)
            continue
        summary[name] = result.value
        if info.per_class_key is not None and result.per_class is not None:
            per_class[info.per_class_key] = result.per_class
            per_class_out[info.per_class_key] = {**result.per_class.as_dict(), **result.details}
    out: dict[str, Any] = {
        "counts": _counts(arrays),
        "threshold": threshold,
        "summary": summary,
        "undefined": undefined,
        "per_class": per_class_out,
    }
    if single:
        out["single_label"] = {
            "accuracy": summary["accuracy"],
            "top_k_accuracy": {
                str(k): top_k_accuracy(positive, score_array, k=k) for k in top_k if k <= len(names)
            },
            "confusion_matrix": confusion_matrix(positive, score_array).tolist(),
        }
    if class_to_group:
        out["groups"] = _groups(per_class, positive, score_array, known, names, class_to_group)
    if num_resamples > 0:
        if rng is None:
            raise ValueError("summarize: pass rng when num_resamples > 0")
        out["intervals"] = {
            name: bootstrap_ci(
                METRICS[name].scalar,
                positive,
                score_array,
                mask=known,
                rng=rng,
                num_resamples=num_resamples,
            ).as_dict()
            for name in HEADLINE_METRICS
            if summary.get(name) is not None
        }
    return out


def _counts(arrays: EvalArrays) -> dict[str, Any]:
    positive = arrays.evaluated_positive
    return {
        "num_clips": int(positive.shape[0]),
        "num_classes": int(positive.shape[1]),
        "masked": bool(arrays.masked),
        "num_known_entries": int(arrays.known.sum()),
        "num_positive_entries": int(positive.sum()),
        "positives_per_class": dict(zip(arrays.class_names, positive.sum(axis=0).tolist(), strict=True)),
    }


def _groups(
    per_class: dict[str, ClassScores],
    positive: np.ndarray,
    scores: np.ndarray,
    known: np.ndarray | None,
    names: tuple[str, ...],
    class_to_group: Mapping[str, str | Sequence[str]],
) -> dict[str, Any]:
    groups: dict[str, Any] = {}
    for info in METRICS.values():
        key = info.per_class_key
        if info.group_means and key is not None and key in per_class:
            means = group_means(per_class[key], class_to_group)
            groups[key] = {group: value.as_dict() for group, value in means.items()}
    groups["lwlrap_within_group"] = metric_by_group(
        lwlrap, positive, scores, class_to_group=class_to_group, class_names=names, mask=known
    )
    return groups
