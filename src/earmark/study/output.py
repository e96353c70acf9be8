"""Write a study's report files: ``report.md``, ``results.json`` and ``study.png``."""

from __future__ import annotations

import json
from pathlib import Path

from earmark.io import write_text_atomic
from earmark.study.compare import StudyResults
from earmark.study.report import markdown, plot

__all__ = ["write_report"]


def write_report(
    results: StudyResults, out: str | Path, *, title: str = "Study", preamble: str = ""
) -> list[Path]:
    """Write the report of ``results`` into ``out``; returns the files written."""
    out = Path(out)
    written = [out / "report.md", out / "results.json"]
    write_text_atomic(written[0], markdown(results, title=title, preamble=preamble))
    write_text_atomic(written[1], json.dumps(results.as_dict(), indent=2))
    figure = plot(results, out / "study.png")
    if figure is not None:
        written.append(figure)
    return written
