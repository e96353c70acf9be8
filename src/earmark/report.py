"""Evaluate a predictions file against labels and write the report.

:func:`evaluate` aligns predictions to labels and computes every metric
(:func:`earmark.metrics.summarize`); :func:`write_report` writes into one directory:

- ``metrics.json``: all metrics, per class, exclusions, groups, intervals (no NaN anywhere);
- ``summary.md``: a markdown table of the headline metrics;
- ``plots/*.png``: per-class AP bars, PR curves of the best and worst classes, and for
  single-label data a confusion matrix (needs the ``plots`` extra; skipped with a note if absent);
- ``report.html``: one self-contained page, plots embedded as base64 PNG, every user-provided
  name (classes, groups, paths) escaped.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from earmark.data.labels import Labels
from earmark.metrics import ClassScores, average_precision_per_class, summarize
from earmark.predictions import Predictions

__all__ = [
    "Evaluation",
    "ReportFiles",
    "evaluate",
    "markdown_summary",
    "render_html",
    "write_report",
]

_SUMMARY_NAMES = {
    "lwlrap": "lwlrap",
    "lrap": "LRAP",
    "ap_macro": "AP (PR-AUC), macro",
    "ap_micro": "AP (PR-AUC), micro",
    "auc_macro": "ROC-AUC, macro",
    "auc_micro": "ROC-AUC, micro",
    "d_prime_macro": "d′, mean over classes",
    "d_prime_of_auc_macro": "d′ of macro ROC-AUC",
    "f1_macro": "F1, macro (positive class)",
    "openmic_paper_f1_macro": "F1, OpenMIC paper variant (mean of pos./neg. F1)",
    "accuracy": "accuracy",
}
_PER_CLASS_COLUMNS = ("average_precision", "roc_auc", "d_prime", "f1", "lwlrap")


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


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_report`."""

    directory: Path
    metrics_json: Path
    summary_markdown: Path
    html: Path
    plots: dict[str, Path]


def evaluate(
    predictions: Predictions,
    labels: Labels,
    *,
    mask_missing: bool = False,
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
    mask_missing
        Evaluate only annotated entries. Otherwise missing entries count as negatives.
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
    mask = kept.annotated if mask_missing else None
    metrics = summarize(
        kept.positive,
        aligned.scores,
        class_names=kept.class_names,
        mask=mask,
        threshold=threshold,
        class_to_group=class_to_group,
        rng=rng,
        num_resamples=num_resamples,
    )
    missing = int((~kept.annotated).sum())
    metrics["inputs"] = {
        "num_predicted_clips": predictions.num_clips,
        "num_labeled_clips": labels.num_clips,
        "frontend_hash": predictions.frontend_hash,
        "missing_entries": missing,
        "missing_entries_are": "left out (masked)" if mask_missing else "negatives",
    }
    return Evaluation(metrics, aligned, kept, mask)


def _format(value: Any) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def _interval(metrics: Mapping[str, Any], key: str) -> str:
    interval = metrics.get("intervals", {}).get(key)
    if not interval:
        return ""
    return f"[{interval['low']:.4f}, {interval['high']:.4f}]"


def _summary_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (label, _format(metrics["summary"][key]), _interval(metrics, key))
        for key, label in _SUMMARY_NAMES.items()
        if key in metrics["summary"]
    ]


def _exclusions(metrics: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(class, reason, metrics that left it out), in first-seen order."""
    found: dict[tuple[str, str], list[str]] = {}
    for key, part in metrics["per_class"].items():
        for name, reason in part["excluded"].items():
            found.setdefault((name, reason), []).append(key)
    return [(name, reason, keys) for (name, reason), keys in found.items()]


def _markdown_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_summary(metrics: Mapping[str, Any], *, title: str = "Evaluation") -> str:
    """Render a markdown page: counts, headline metrics with intervals, exclusions, groups."""
    counts = metrics["counts"]
    intervals: dict[str, Any] = metrics.get("intervals", {})
    first: dict[str, Any] = next(iter(intervals.values()), {})
    confidence = first.get("confidence")
    ci_header = f"{confidence:.0%} CI" if confidence else "CI"
    lines = [
        f"# {_markdown_cell(title)}",
        "",
        f"{counts['num_clips']} clips × {counts['num_classes']} classes, "
        f"{counts['num_positive_entries']} positive entries; missing entries are "
        f"{metrics['inputs']['missing_entries_are'] if 'inputs' in metrics else 'n/a'}.",
        "",
        f"| metric | value | {ci_header} |",
        "|---|---|---|",
        *(f"| {name} | {value} | {ci} |" for name, value, ci in _summary_rows(metrics)),
    ]
    single = metrics.get("single_label")
    if single:
        lines += ["", "| top-k | accuracy |", "|---|---|"]
        lines += [f"| {k} | {value:.4f} |" for k, value in single["top_k_accuracy"].items()]
    excluded = _exclusions(metrics)
    if excluded:
        lines += ["", f"{len(excluded)} classes left out of some macro averages:", ""]
        lines += [
            f"- {_markdown_cell(name)}: {reason} ({', '.join(keys)})" for name, reason, keys in excluded[:50]
        ]
        lines += ["- …"] if len(excluded) > 50 else []
    for key, groups in metrics.get("groups", {}).items():
        lines += ["", f"| group | {key} |", "|---|---|"]
        for group, value in groups.items():
            shown = value.get("value") if isinstance(value, dict) else value
            lines.append(f"| {_markdown_cell(group)} | {_format(shown)} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- HTML
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } img { max-width: 100%; }
.note { color: #555; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="number">{value:.4f}</td>'
    if value is None:
        return '<td class="number">–</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _table(table_id: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_html(
    metrics: Mapping[str, Any],
    plots: Mapping[str, bytes],
    *,
    title: str = "earmark evaluation",
    sources: Mapping[str, str] | None = None,
) -> str:
    """One self-contained HTML page of an evaluation; every user-provided name is escaped.

    Parameters
    ----------
    metrics
        The dict of :func:`evaluate`.
    plots
        Caption → PNG bytes, embedded as data URIs.
    title
        The page title.
    sources
        Optional label → path of the input files, shown at the top.

    Returns
    -------
    str
        The page.

    """
    counts = metrics["counts"]
    parts = [f"<h1>{html.escape(title)}</h1>"]
    facts = [f"{counts['num_clips']} clips × {counts['num_classes']} classes"]
    if "inputs" in metrics:
        facts.append(
            f"missing entries ({metrics['inputs']['missing_entries']}) are "
            f"{metrics['inputs']['missing_entries_are']}"
        )
    facts += [f"{label}: {path}" for label, path in (sources or {}).items()]
    parts.append('<p class="note">' + "; ".join(html.escape(fact) for fact in facts) + "</p>")
    interval_header = "interval" if not metrics.get("intervals") else "bootstrap interval"
    parts.append("<h2>Summary</h2>")
    parts.append(_table("summary", ["metric", "value", interval_header], _summary_rows(metrics)))
    single = metrics.get("single_label")
    if single:
        parts.append("<h2>Single-label accuracy</h2>")
        parts.append(_table("top-k", ["k", "accuracy"], list(single["top_k_accuracy"].items())))
    excluded = [(name, reason, ", ".join(keys)) for name, reason, keys in _exclusions(metrics)]
    if excluded:
        parts.append("<h2>Excluded classes</h2>")
        parts.append('<p class="note">Left out of the macro averages of the metrics listed.</p>')
        parts.append(_table("excluded", ["class", "reason", "metrics"], excluded))
    for key, groups in metrics.get("groups", {}).items():
        parts.append(f"<h2>By group: {html.escape(key)}</h2>")
        rows = [
            (group, value.get("value") if isinstance(value, dict) else value)
            for group, value in groups.items()
        ]
        parts.append(_table(f"group-{html.escape(key)}", ["group", key], rows))
    if plots:
        parts.append("<h2>Plots</h2>")
        for caption, png in plots.items():
            data = base64.b64encode(png).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    parts.append("<h2>Per class</h2>")
    parts.append(_per_class_table(metrics))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def _per_class_table(metrics: Mapping[str, Any]) -> str:
    per_class = metrics["per_class"]
    columns = [c for c in _PER_CLASS_COLUMNS if c in per_class]
    positives = metrics["counts"]["positives_per_class"]
    rows = [
        [name, positives[name], *(per_class[c]["per_class"][name] for c in columns)] for name in positives
    ]
    return _table("per-class", ["class", "positives", *columns], rows)


# --------------------------------------------------------------------------- files
def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _plots(evaluation: Evaluation) -> dict[str, bytes]:
    from earmark import plots

    labels, scores = evaluation.labels, evaluation.predictions.scores
    ap: ClassScores = average_precision_per_class(
        labels.positive, scores, mask=evaluation.mask, class_names=labels.class_names
    )
    figures = {
        "Per-class average precision": plots.ap_bar_chart(ap),
        "Precision-recall curves": plots.pr_curves_chart(labels.positive, scores, ap, mask=evaluation.mask),
    }
    single = evaluation.metrics.get("single_label")
    if single:
        matrix = np.array(single["confusion_matrix"])
        figures["Confusion matrix"] = plots.confusion_matrix_chart(matrix, labels.class_names)
    return figures


def write_report(
    evaluation: Evaluation,
    out_dir: str | Path,
    *,
    title: str = "earmark evaluation",
    sources: Mapping[str, str] | None = None,
    with_plots: bool = True,
    extra_figures: Mapping[str, bytes] | None = None,
) -> ReportFiles:
    """Write ``metrics.json``, ``summary.md``, ``plots/*.png`` and ``report.html`` to ``out_dir``.

    Parameters
    ----------
    evaluation
        The result of :func:`evaluate`.
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
    figures: dict[str, bytes] = dict(extra_figures or {})
    if with_plots:
        try:
            figures.update(_plots(evaluation))
        except PlotsUnavailable as error:
            metrics["plots_skipped"] = str(error)
    plot_paths: dict[str, Path] = {}
    if figures:
        (out / "plots").mkdir(exist_ok=True)
        for caption, png in figures.items():
            path = out / "plots" / (caption.lower().replace(" ", "_").replace("-", "_") + ".png")
            path.write_bytes(png)
            plot_paths[caption] = path
    files = ReportFiles(out, out / "metrics.json", out / "summary.md", out / "report.html", plot_paths)
    _write_text(files.metrics_json, json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    _write_text(files.summary_markdown, markdown_summary(metrics, title=title))
    _write_text(files.html, render_html(metrics, figures, title=title, sources=sources))
    return files
