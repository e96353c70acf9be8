"""Rendering: the markdown and HTML pages of an evaluation's metrics (no computing, no files).

Both pages list the metrics of :data:`earmark.metrics.METRICS` under their display names, in
the table's order; every user-provided name (classes, groups, paths) is escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import Any

from earmark.metrics import METRICS

__all__ = ["markdown_summary", "render_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } img { max-width: 100%; }
.note { color: #555; }
"""


def _format(value: Any) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def _interval(metrics: Mapping[str, Any], key: str) -> str:
    interval = metrics.get("intervals", {}).get(key)
    if not interval:
        return ""
    return f"[{interval['low']:.4f}, {interval['high']:.4f}]"


def _summary_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(display name, value, interval) of each metric of the table that was computed."""
    return [
        (info.display_name, _format(metrics["summary"][name]), _interval(metrics, name))
        for name, info in METRICS.items()
        if name in metrics["summary"]
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
        The metrics of an evaluation (:attr:`Evaluation.metrics`).
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
    others = metrics.get("other_models")
    if others:
        parts.append("<h2>Other models of this run</h2>")
        parts.append(
            '<p class="note">Scored on the same clips as the summary (the Mean Teacher student beside its '
            "teacher, for example).</p>"
        )
        names = sorted({key for values in others.values() for key in values})
        rows = [(model, *(values.get(key) for key in names)) for model, values in others.items()]
        parts.append(_table("other-models", ["model", *names], rows))
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
    keys = (info.per_class_key for info in METRICS.values())
    columns = [key for key in keys if key is not None and key in per_class]
    positives = metrics["counts"]["positives_per_class"]
    rows = [
        [name, positives[name], *(per_class[c]["per_class"][name] for c in columns)] for name in positives
    ]
    return _table("per-class", ["class", "positives", *columns], rows)
