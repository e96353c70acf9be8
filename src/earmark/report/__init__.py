"""Evaluate a predictions file against labels and write the report.

Evaluation and rendering are apart: :func:`evaluate` (:mod:`earmark.report.evaluation`) aligns
predictions to labels and computes every number (:func:`earmark.metrics.summarize`);
:mod:`earmark.report.pages` renders those numbers as markdown and HTML, and :func:`write_report`
(:mod:`earmark.report.files`) draws the figures and writes ``metrics.json``, ``summary.md``,
``plots/*.png`` and ``report.html`` into one directory.
"""

from earmark.report.evaluation import Evaluation, evaluate
from earmark.report.files import ReportFiles, figures, write_report
from earmark.report.pages import markdown_summary, render_html

__all__ = [
    "Evaluation",
    "ReportFiles",
    "evaluate",
    "figures",
    "markdown_summary",
    "render_html",
    "write_report",
]
