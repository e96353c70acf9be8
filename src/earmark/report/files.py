"""The report's files: figures of an evaluation and the pages of :mod:`earmark.report.pages`.

:func:`write_report` writes into one directory, each file atomically:

- ``metrics.json``: all metrics, per class, exclusions, groups, intervals (no NaN anywhere);
- ``summary.md``: a markdown table of the metrics;
- ``plots/*.png``: per-class AP bars, PR curves of the best and worst classes, and for
  single-label data a confusion matrix (needs the ``plots`` extra; skipped with a note if absent);
- ``report.html``: one self-contained page, plots embedded as base64 PNG.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from earmark.io import write_bytes_atomic, write_text_atomic
from earmark.metrics import ClassScores, average_precision_per_class
from earmark.report.evaluation import Evaluation
from earmark.report.pages import markdown_summary, render_html

__all__ = ["ReportFiles", "figures", "write_report"]


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_report`."""

    directory: Path
    metrics_json: Path
    summary_markdown: Path
    html: Path
    plots: dict[str, Path]


def figures(evaluation: Evaluation) -> dict[str, bytes]:
    """Caption → PNG of the evaluation's figures; raises ``PlotsUnavailable`` without matplotlib."""
    from earmark import plots

    labels, scores = evaluation.labels, evaluation.predictions.scores
    ap: ClassScores = average_precision_per_class(
        labels.positive, scores, mask=evaluation.mask, class_names=labels.class_names
    )
    drawn = {
        "Per-class average precision": plots.ap_bar_chart(ap),
        "Precision-recall curves": plots.pr_curves_chart(labels.positive, scores, ap, mask=evaluation.mask),
    }
    single = evaluation.metrics.get("single_label")
    if single:
        matrix = np.array(single["confusion_matrix"])
        drawn["Confusion matrix"] = plots.confusion_matrix_chart(matrix, labels.class_names)
    return drawn


def write_report(
    evaluation: Evaluation,
    out_dir: str | Path,
    *,
    title: str = "earmark evaluation",
    sources: Mapping[str, str] | None = None,
    with_plots: bool = True,
    extra_figures: Mapping[str, bytes] | None = None,
    other_models: Mapping[str, Mapping[str, float]] | None = None,
) -> ReportFiles:
    """Write ``metrics.json``, ``summary.md``, ``plots/*.png`` and ``report.html`` to ``out_dir``.

    Parameters
    ----------
    evaluation
        The result of :func:`earmark.report.evaluate`.
    out_dir
        Output directory (created).
    title
        Title of the markdown and HTML pages.
    sources
        Optional label → path of the inputs, recorded in the JSON and the HTML.
    with_plots
        Draw the figures; without matplotlib they are skipped and the JSON says why.
    extra_figures
        Caption → PNG of figures drawn elsewhere (e.g. a run's training curves), shown first.
    other_models
        Model name → metric → value of other models of the same run on the same clips (the
        Mean Teacher student beside its teacher), shown after the summary.

    Returns
    -------
    ReportFiles

    """
    from earmark.plots import PlotsUnavailable

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = dict(evaluation.metrics)
    if sources:
        metrics["inputs"] = {**metrics.get("inputs", {}), "files": dict(sources)}
    if other_models:
        metrics["other_models"] = {name: dict(values) for name, values in other_models.items()}
    shown: dict[str, bytes] = dict(extra_figures or {})
    if with_plots:
        try:
            shown.update(figures(evaluation))
        except PlotsUnavailable as error:
            metrics["plots_skipped"] = str(error)
    plot_paths = {
        caption: write_bytes_atomic(out / "plots" / _file_name(caption), png)
        for caption, png in shown.items()
    }
    files = ReportFiles(out, out / "metrics.json", out / "summary.md", out / "report.html", plot_paths)
    write_text_atomic(files.metrics_json, json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    write_text_atomic(files.summary_markdown, markdown_summary(metrics, title=title))
    write_text_atomic(files.html, render_html(metrics, shown, title=title, sources=sources))
    return files


def _file_name(caption: str) -> str:
    return caption.lower().replace(" ", "_").replace("-", "_") + ".png"
