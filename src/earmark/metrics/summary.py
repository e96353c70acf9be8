"""Every metric of a prediction set at once, as plain JSON-safe data; named scalar metrics.

:data:`SCALAR_METRICS` maps a short name (``lwlrap``, ``ap_macro``, …) to a function
``metric(y_true, scores, mask=None) -> float``; the bootstrap, the ``compare`` command and the
report pick metrics by these names. :func:`summarize` computes them all with per-class values,
exclusions, group aggregates and, when asked, bootstrap intervals.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from earmark.metrics._common import ClassScores, UndefinedMetricError, check_inputs
from earmark.metrics.accuracy import accuracy, confusion_matrix, top_k_accuracy
from earmark.metrics.bootstrap import Metric, bootstrap_ci
from earmark.metrics.curves import (
    average_precision_micro,
    average_precision_per_class,
    d_prime,
    d_prime_per_class,
    roc_auc_micro,
    roc_auc_per_class,
)
from earmark.metrics.f1 import f1_per_class, openmic_paper_f1
from earmark.metrics.groups import group_means, metric_by_group
from earmark.metrics.ranking import lrap, lwlrap, lwlrap_per_class

__all__ = ["HEADLINE_METRICS", "SCALAR_METRICS", "is_single_label", "scalar_metric", "summarize"]


def _macro(
    per_class: Any, y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None
) -> float:
    return float(per_class(y_true, scores, mask=mask).macro)


SCALAR_METRICS: dict[str, Metric] = {
    "lwlrap": lwlrap,
    "lrap": lrap,
    "ap_macro": functools.partial(_macro, average_precision_per_class),
    "ap_micro": average_precision_micro,
    "auc_macro": functools.partial(_macro, roc_auc_per_class),
    "auc_micro": roc_auc_micro,
    "d_prime_macro": functools.partial(_macro, d_prime_per_class),
    "f1_macro": functools.partial(_macro, f1_per_class),
    "accuracy": accuracy,
}
HEADLINE_METRICS: tuple[str, ...] = ("lwlrap", "ap_macro", "auc_macro")


def scalar_metric(name: str) -> Metric:
    """Return the metric called ``name``; an unknown name raises with the valid names listed."""
    if name not in SCALAR_METRICS:
        raise ValueError(f"unknown metric {name!r}; valid metrics: {', '.join(SCALAR_METRICS)}")
    return SCALAR_METRICS[name]


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
    per_class: dict[str, ClassScores] = {}
    summary: dict[str, float | None] = {}
    undefined: dict[str, str] = {}

    def attempt(key: str, compute: Any) -> Any:
        try:
            return compute()
        except UndefinedMetricError as error:
            undefined[key] = str(error)
            summary[key] = None
            return None

    lw = attempt("lwlrap", lambda: lwlrap_per_class(positive, score_array, mask=known, class_names=names))
    if lw is not None:
        summary["lwlrap"] = lw.overall
        per_class["lwlrap"] = lw.per_class
    summary["lrap"] = attempt("lrap", lambda: lrap(positive, score_array, mask=known))
    per_class_functions = {
        "average_precision": (average_precision_per_class, "ap_macro", {}),
        "roc_auc": (roc_auc_per_class, "auc_macro", {}),
        "d_prime": (d_prime_per_class, "d_prime_macro", {}),
        "f1": (f1_per_class, "f1_macro", {"thresholds": threshold}),
        "openmic_paper_f1": (openmic_paper_f1, "openmic_paper_f1_macro", {"thresholds": threshold}),
    }
    for key, (function, summary_key, options) in per_class_functions.items():
        result = attempt(
            summary_key,
            functools.partial(function, positive, score_array, mask=known, class_names=names, **options),
        )
        if result is not None:
            per_class[key] = result
            summary[summary_key] = result.macro
    summary["ap_micro"] = attempt(
        "ap_micro", lambda: average_precision_micro(positive, score_array, mask=known)
    )
    summary["auc_micro"] = attempt("auc_micro", lambda: roc_auc_micro(positive, score_array, mask=known))
    if "roc_auc" in per_class:
        summary["d_prime_of_auc_macro"] = float(d_prime(per_class["roc_auc"].macro))
    out: dict[str, Any] = {
        "counts": _counts(arrays),
        "threshold": threshold,
        "summary": summary,
        "undefined": undefined,
        "per_class": {key: value.as_dict() for key, value in per_class.items()},
    }
    if lw is not None:
        out["per_class"]["lwlrap"]["weights"] = dict(zip(names, lw.weights.tolist(), strict=True))
    if single:
        out["single_label"] = {
            "accuracy": accuracy(positive, score_array),
            "top_k_accuracy": {
                str(k): top_k_accuracy(positive, score_array, k=k) for k in top_k if k <= len(names)
            },
            "confusion_matrix": confusion_matrix(positive, score_array).tolist(),
        }
        summary["accuracy"] = out["single_label"]["accuracy"]
    if class_to_group:
        out["groups"] = _groups(per_class, positive, score_array, known, names, class_to_group)
    if num_resamples > 0:
        if rng is None:
            raise ValueError("summarize: pass rng when num_resamples > 0")
        out["intervals"] = {
            name: bootstrap_ci(
                SCALAR_METRICS[name],
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


def _counts(arrays: Any) -> dict[str, Any]:
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
    groups: dict[str, Any] = {
        key: {group: value.as_dict() for group, value in group_means(result, class_to_group).items()}
        for key, result in per_class.items()
        if key in ("average_precision", "roc_auc", "f1")
    }
    groups["lwlrap_within_group"] = metric_by_group(
        lwlrap, positive, scores, class_to_group=class_to_group, class_names=names, mask=known
    )
    return groups
