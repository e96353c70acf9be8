"""The one table of named metrics: how each is computed, what it is called, which way is better.

:data:`METRICS` maps a short name (``lwlrap``, ``ap_macro``, …) to a :class:`MetricInfo`. Every
consumer iterates this table: :func:`earmark.metrics.summarize` computes each entry (with its
per-class values), :func:`scalar_metric` hands out one entry as a plain
``metric(y_true, scores, *, mask=None) -> float`` for the trainer, the bootstrap and
``earmark compare``, and the report shows each under its display name. Adding a metric is one
entry here.

Examples
--------
>>> import numpy as np
>>> y = np.array([[1, 0], [0, 1]])
>>> scores = np.array([[0.9, 0.2], [0.6, 0.4]])  # the second clip's positive ranks second
>>> scalar_metric("lwlrap")(y, scores)
0.75
>>> METRICS["ap_macro"].display_name
'AP (PR-AUC), macro'

"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from earmark.metrics._common import ClassScores
from earmark.metrics.accuracy import accuracy
from earmark.metrics.bootstrap import Metric
from earmark.metrics.curves import (
    average_precision_micro,
    average_precision_per_class,
    d_prime,
    d_prime_per_class,
    roc_auc_micro,
    roc_auc_per_class,
)
from earmark.metrics.f1 import f1_per_class, openmic_paper_f1
from earmark.metrics.ranking import lrap, lwlrap_per_class

__all__ = [
    "HEADLINE_METRICS",
    "METRICS",
    "MetricInfo",
    "MetricInputs",
    "MetricValue",
    "scalar_metric",
]


@dataclasses.dataclass(frozen=True)
class MetricInputs:
    """The inputs of one evaluation; a per-class result two metrics share is computed once.

    Attributes
    ----------
    positive
        (clips, classes) bool or 0/1, true labels.
    scores
        (clips, classes) float.
    mask
        (clips, classes) bool known entries, or None when every entry counts.
    class_names
        names of the columns, or None (``"0"``, ``"1"``, …).
    threshold
        decision threshold of the thresholded metrics (F1), ``score >= threshold``.

    """

    positive: np.ndarray
    scores: np.ndarray
    mask: np.ndarray | None = None
    class_names: Sequence[str] | None = None
    threshold: float = 0.5
    _shared: dict[str, ClassScores] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def per_class(self, function: Callable[..., ClassScores], **options: Any) -> ClassScores:
        """``function(positive, scores, mask=, class_names=, **options)``, computed once per function."""
        key = f"{function.__module__}.{function.__qualname__}{sorted(options.items())}"
        if key not in self._shared:
            self._shared[key] = function(
                self.positive, self.scores, mask=self.mask, class_names=self.class_names, **options
            )
        return self._shared[key]


@dataclasses.dataclass(frozen=True)
class MetricValue:
    """One metric of one evaluation.

    Attributes
    ----------
    value
        the metric.
    per_class
        its per-class values, when it has any.
    details
        more JSON-safe facts stored beside the per-class values (lwlrap's class weights).

    """

    value: float
    per_class: ClassScores | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class MetricInfo:
    """One named metric.

    Attributes
    ----------
    name
        short name: the key in ``summarize``'s ``summary``, ``TrainConfig.metric``, ``--metric``.
    display_name
        what the report calls it.
    compute
        ``compute(inputs) -> MetricValue``; raises :class:`~earmark.metrics.UndefinedMetricError`
        when nothing can be scored.
    per_class_key
        the key of its per-class values in ``summarize``'s ``per_class`` (and the report's
        per-class table), or None for a metric without per-class values.
    group_means
        ``summarize`` averages its per-class values within each class group.
    headline
        a headline metric: bootstrap intervals in the report, the default of ``earmark compare``.
    single_label
        defined only for single-label data (one positive per clip, every entry known).
    higher_is_better
        the direction (every metric here is higher-is-better; the trainer keeps the highest).

    """

    name: str
    display_name: str
    compute: Callable[[MetricInputs], MetricValue]
    per_class_key: str | None = None
    group_means: bool = False
    headline: bool = False
    single_label: bool = False
    higher_is_better: bool = True

    def scalar(self, y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None) -> float:
        """The metric of ``(clips, classes)`` labels and scores, known entries only under ``mask``."""
        return self.compute(MetricInputs(np.asarray(y_true), np.asarray(scores), mask)).value


def _macro(
    function: Callable[..., ClassScores], *, thresholded: bool = False
) -> Callable[[MetricInputs], MetricValue]:
    """The macro average of a per-class ``function``, with its per-class values."""

    def compute(inputs: MetricInputs) -> MetricValue:
        options = {"thresholds": inputs.threshold} if thresholded else {}
        result = inputs.per_class(function, **options)
        return MetricValue(result.macro, result)

    return compute


def _overall(function: Metric) -> Callable[[MetricInputs], MetricValue]:
    """A metric without per-class values."""

    def compute(inputs: MetricInputs) -> MetricValue:
        return MetricValue(float(function(inputs.positive, inputs.scores, mask=inputs.mask)))

    return compute


def _lwlrap(inputs: MetricInputs) -> MetricValue:
    result = lwlrap_per_class(
        inputs.positive, inputs.scores, mask=inputs.mask, class_names=inputs.class_names
    )
    names = result.per_class.class_names
    weights = dict(zip(names, result.weights.tolist(), strict=True))
    return MetricValue(result.overall, result.per_class, {"weights": weights})


def _d_prime_of_auc(inputs: MetricInputs) -> MetricValue:
    return MetricValue(float(d_prime(inputs.per_class(roc_auc_per_class).macro)))


_TABLE = (
    MetricInfo("lwlrap", "lwlrap", _lwlrap, per_class_key="lwlrap", headline=True),
    MetricInfo("lrap", "LRAP", _overall(lrap)),
    MetricInfo(
        "ap_macro",
        "AP (PR-AUC), macro",
        _macro(average_precision_per_class),
        per_class_key="average_precision",
        group_means=True,
        headline=True,
    ),
    MetricInfo("ap_micro", "AP (PR-AUC), micro", _overall(average_precision_micro)),
    MetricInfo(
        "auc_macro",
        "ROC-AUC, macro",
        _macro(roc_auc_per_class),
        per_class_key="roc_auc",
        group_means=True,
        headline=True,
    ),
    MetricInfo("auc_micro", "ROC-AUC, micro", _overall(roc_auc_micro)),
    MetricInfo("d_prime_macro", "d′, mean over classes", _macro(d_prime_per_class), per_class_key="d_prime"),
    MetricInfo("d_prime_of_auc_macro", "d′ of macro ROC-AUC", _d_prime_of_auc),
    MetricInfo(
        "f1_macro",
        "F1, macro (positive class)",
        _macro(f1_per_class, thresholded=True),
        per_class_key="f1",
        group_means=True,
    ),
    MetricInfo(
        "openmic_paper_f1_macro",
        "F1, OpenMIC paper variant (mean of pos./neg. F1)",
        _macro(openmic_paper_f1, thresholded=True),
        per_class_key="openmic_paper_f1",
    ),
    MetricInfo("accuracy", "accuracy", _overall(accuracy), single_label=True),
)
METRICS: Mapping[str, MetricInfo] = types.MappingProxyType({info.name: info for info in _TABLE})
HEADLINE_METRICS: tuple[str, ...] = tuple(info.name for info in _TABLE if info.headline)


def scalar_metric(name: str) -> Metric:
    """Return the metric called ``name``; an unknown name raises with the valid names listed."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; valid metrics: {', '.join(METRICS)}")
    return METRICS[name].scalar
