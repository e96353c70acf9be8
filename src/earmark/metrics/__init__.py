"""Metrics of multi-label tagging: pure functions over ``(clips, classes)`` labels and scores.

Every metric takes true labels and scores of shape ``(clips, classes)`` and an optional boolean
``mask`` of known entries (only known entries count). Per-class metrics return a
:class:`ClassScores` whose ``macro`` average leaves out, and names in ``excluded``, the classes
without positives (or negatives) among the evaluated entries. :data:`METRICS` is the one table
of named metrics that :func:`summarize`, :func:`scalar_metric` and the report iterate.
"""

from earmark.metrics._common import ClassScores, UndefinedMetricError
from earmark.metrics.accuracy import accuracy, confusion_matrix, top_k_accuracy
from earmark.metrics.bootstrap import (
    BootstrapInterval,
    Metric,
    PairedComparison,
    bootstrap_ci,
    paired_bootstrap,
)
from earmark.metrics.curves import (
    average_precision_macro,
    average_precision_micro,
    average_precision_per_class,
    d_prime,
    d_prime_per_class,
    precision_recall_curve,
    roc_auc_macro,
    roc_auc_micro,
    roc_auc_per_class,
)
from earmark.metrics.f1 import f1_macro, f1_per_class, openmic_paper_f1, tune_f1_thresholds
from earmark.metrics.groups import (
    UNGROUPED,
    GroupValue,
    group_columns,
    group_means,
    metric_by_group,
    read_group_map,
)
from earmark.metrics.ranking import (
    LwlrapResult,
    lrap,
    lwlrap,
    lwlrap_class_weights,
    lwlrap_per_class,
)
from earmark.metrics.summary import is_single_label, summarize
from earmark.metrics.table import (
    HEADLINE_METRICS,
    METRICS,
    MetricInfo,
    MetricInputs,
    MetricValue,
    scalar_metric,
)

__all__ = [
    "HEADLINE_METRICS",
    "METRICS",
    "UNGROUPED",
    "BootstrapInterval",
    "ClassScores",
    "GroupValue",
    "LwlrapResult",
    "Metric",
    "MetricInfo",
    "MetricInputs",
    "MetricValue",
    "PairedComparison",
    "UndefinedMetricError",
    "accuracy",
    "average_precision_macro",
    "average_precision_micro",
    "average_precision_per_class",
    "bootstrap_ci",
    "confusion_matrix",
    "d_prime",
    "d_prime_per_class",
    "f1_macro",
    "f1_per_class",
    "group_columns",
    "group_means",
    "is_single_label",
    "lrap",
    "lwlrap",
    "lwlrap_class_weights",
    "lwlrap_per_class",
    "metric_by_group",
    "openmic_paper_f1",
    "paired_bootstrap",
    "precision_recall_curve",
    "read_group_map",
    "roc_auc_macro",
    "roc_auc_micro",
    "roc_auc_per_class",
    "scalar_metric",
    "summarize",
    "top_k_accuracy",
    "tune_f1_thresholds",
]
