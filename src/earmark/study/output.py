"""Write a study's report files: ``report.md``, ``results.json`` and ``study.png``."""

from __future__ import annotations

import json
from pathlib import Path

from earmark.io import write_text_atomic
from earmark.study.compare import StudyResults
from earmark.study.quality import LabelQuality
from earmark.study.report import markdown, plot

__all__ = ["write_report"]


def write_report(
    results: StudyResults,
    out: str | Path,
    *,
    title: str = "Study",
    preamble: str = "",
    quality: LabelQuality | None = None,
) -> list[Path]:
    """Write the report of ``results`` into ``out``; returns the files written.

    ``quality``, when given, opens the report (before the table) and goes into ``results.json``.
    """
    out = Path(out)
    written = [out / "report.md", out / "results.json"]
    opening = "\n\n".join(part for part in (quality.describe() if quality else "", preamble) if part)
    write_text_atomic(written[0], markdown(results, title=title, preamble=opening))
    data = results.as_dict()
    if quality is not None:
        data["label_quality"] = {"kind": quality.kind, "per_seed": quality.per_seed, "note": quality.note}
    write_text_atomic(written[1], json.dumps(data, indent=2))
    figure = plot(results, out / "study.png")
    if figure is not None:
        written.append(figure)
    return written
