"""Figures of an evaluation as PNG bytes: per-class AP bars, PR curves, a confusion matrix.

matplotlib (the ``plots`` extra) is imported only when a figure is drawn, with the Agg canvas
and no pyplot state. Class names are drawn as plain text (no mathtext), whatever they hold.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from earmark.errors import EarmarkError
from earmark.metrics import ClassScores, precision_recall_curve

__all__ = [
    "PlotsUnavailable",
    "agg_figure",
    "ap_bar_chart",
    "confusion_matrix_chart",
    "png_bytes",
    "pr_curves_chart",
]


class PlotsUnavailable(EarmarkError, RuntimeError):
    """matplotlib is not installed (``pip install 'earmark[plots]'``)."""


@contextmanager
def agg_figure(width_inches: float, height_inches: float) -> Iterator[Any]:
    """A matplotlib figure on the Agg canvas (no display), for charts rendered to PNG bytes."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise PlotsUnavailable("plots need matplotlib: pip install 'earmark[plots]'") from error
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        figure = Figure(figsize=(width_inches, height_inches), dpi=100)
        FigureCanvasAgg(figure)
        yield figure


def png_bytes(figure: Any) -> bytes:
    """The figure as PNG bytes, laid out tightly, without a software stamp (reproducible)."""
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def ap_bar_chart(ap: ClassScores) -> bytes:
    """Horizontal bars of per-class average precision, best class on top.

    Parameters
    ----------
    ap
        Per-class average precision; excluded classes are left out (their count is in the
        title).

    Returns
    -------
    bytes
        A PNG image.

    """
    scored = np.flatnonzero(ap.included)
    order = scored[np.argsort(-ap.values[scored], kind="stable")]
    height = min(max(2.0, 0.22 * len(order) + 1.0), 60.0)
    with agg_figure(7.0, height) as figure:
        axes = figure.add_subplot()
        positions = np.arange(len(order))
        axes.barh(positions, ap.values[order], color="#4c72b0")
        axes.set_yticks(positions, [_short(ap.class_names[j]) for j in order], fontsize=7)
        axes.invert_yaxis()
        axes.set_xlim(0.0, 1.0)
        axes.set_xlabel("average precision")
        title = f"Per-class AP (macro {ap.macro:.3f})"
        if ap.excluded:
            title += f", {len(ap.excluded)} classes excluded"
        axes.set_title(title, fontsize=9)
        return png_bytes(figure)


def pr_curves_chart(
    y_true: np.ndarray,
    scores: np.ndarray,
    ap: ClassScores,
    *,
    mask: np.ndarray | None = None,
    per_side: int = 3,
) -> bytes:
    """Precision–recall curves of the ``per_side`` best and worst classes by AP.

    Parameters
    ----------
    y_true
        (clips, classes) bool labels.
    scores
        (clips, classes) float scores.
    ap
        Per-class average precision of the same inputs (picks the classes).
    mask
        (clips, classes) bool known entries, optional.
    per_side
        How many best and how many worst classes to draw.

    Returns
    -------
    bytes
        A PNG image.

    """
    scored = np.flatnonzero(ap.included)
    order = scored[np.argsort(-ap.values[scored], kind="stable")]
    best = order[:per_side].tolist()
    worst = [j for j in order[::-1][:per_side].tolist() if j not in best][::-1]
    with agg_figure(7.0, 4.5) as figure:
        axes = figure.add_subplot()
        for j, style in [(j, "-") for j in best] + [(j, "--") for j in worst]:
            column_mask = None if mask is None else mask[:, j]
            precision, recall, _ = precision_recall_curve(y_true[:, j], scores[:, j], mask=column_mask)
            axes.step(
                np.r_[0.0, recall],
                np.r_[precision[0], precision],
                where="pre",
                linestyle=style,
                label=f"{_short(ap.class_names[j], 30)} (AP {ap.values[j]:.2f})",
            )
        axes.set_xlim(0.0, 1.0)
        axes.set_ylim(0.0, 1.02)
        axes.set_xlabel("recall")
        axes.set_ylabel("precision")
        axes.set_title("PR curves: best (solid) and worst (dashed) classes", fontsize=9)
        axes.legend(fontsize=7, loc="lower left")
        return png_bytes(figure)


def confusion_matrix_chart(matrix: np.ndarray, class_names: Sequence[str]) -> bytes:
    """Confusion matrix (true class rows, predicted class columns): counts, coloured by row share.

    Each cell shows its count of clips; its colour is the count's share of the true class's row
    (so rare and common classes read alike).

    Parameters
    ----------
    matrix
        (classes, classes) int counts.
    class_names
        Names of the rows and columns.

    Returns
    -------
    bytes
        A PNG image.

    """
    counts = np.asarray(matrix)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ValueError(f"confusion matrix of shape {counts.shape} for {k} class names")
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    size = min(max(4.0, 0.45 * k + 2.0), 40.0)
    with agg_figure(size, size) as figure:
        axes = figure.add_subplot()
        axes.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        labels = [_short(name, 24) for name in class_names]
        axes.set_xticks(np.arange(k), labels, rotation=90, fontsize=7)
        axes.set_yticks(np.arange(k), labels, fontsize=7)
        if k <= 30:
            for row in range(k):
                for column in range(k):
                    if counts[row, column]:
                        color = "white" if share[row, column] > 0.5 else "black"
                        axes.text(
                            column,
                            row,
                            str(counts[row, column]),
                            ha="center",
                            va="center",
                            fontsize=6,
                            color=color,
                        )
        axes.set_xlabel("predicted class")
        axes.set_ylabel("true class")
        axes.set_title("Confusion matrix: clip counts, colour = share of the true class", fontsize=9)
        return png_bytes(figure)


def training_curves_chart(rows: Sequence[dict[str, Any]], metric: str) -> bytes:
    """PNG of a run's training loss and validation ``metric`` against the step.

    ``rows`` are the lines of a run's ``metrics.jsonl`` (``split`` is ``train`` or ``valid``).
    """
    train = [(r["step"], r["total"]) for r in rows if r.get("split") == "train" and "total" in r]
    valid = [(r["step"], r[metric]) for r in rows if r.get("split") == "valid" and metric in r]
    if not train:
        raise ValueError("no training rows to plot")
    with agg_figure(9.0, 3.5) as figure:
        loss_axes, metric_axes = figure.subplots(1, 2)
        loss_axes.plot(*zip(*train, strict=True), color="#4c72b0")
        loss_axes.set_xlabel("step")
        loss_axes.set_ylabel("training loss")
        loss_axes.set_title("training loss")
        if valid:
            metric_axes.plot(*zip(*valid, strict=True), marker="o", color="#dd8452")
        metric_axes.set_xlabel("step")
        metric_axes.set_ylabel(metric)
        metric_axes.set_title(f"validation {metric}" if valid else "no validation split")
        figure.tight_layout()
        return png_bytes(figure)
