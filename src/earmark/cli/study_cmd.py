"""``earmark study``: run remedies × seeds × folds and write the comparison report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from earmark.cli.app import app, console, out

if TYPE_CHECKING:
    from earmark.study import PlannedRun


@app.command("study")
def study_command(
    study_file: Annotated[Path, typer.Argument(help="the study file (YAML): arms, seeds, folds, baseline")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="runs, report.md, results.json and study.png go here")
    ] = Path("runs/study"),
    seeds: Annotated[
        str | None,
        typer.Option(
            help="comma-separated seeds to run in this process (default: all); others may run elsewhere"
        ),
    ] = None,
    report_only: Annotated[bool, typer.Option("--report-only", help="only score the finished runs")] = False,
) -> None:
    """Compare remedies on your data: train every arm for every seed and fold, then report.

    Finished runs are reused and an interrupted run resumes, so the command can be stopped and
    started again; the report scores the test split once, after training, against the baseline
    with a paired bootstrap, and says in one line which arm to use (or that none beats it).
    """
    from earmark.study import (
        collect,
        estimate_label_quality,
        load_study,
        recommendation,
        run_study,
        write_report,
    )

    study = load_study(study_file)
    chosen = tuple(int(s) for s in seeds.split(",")) if seeds else None
    if not report_only:

        def on_event(what: str, run: PlannedRun) -> None:
            where = run.pipeline_dir if run.pipeline_dir is not None else run.run_dir
            text = {"start": "training", "reused": "finished before: reused", "done": "done"}[what]
            console.print(f"{run.arm.name} {run.cell.name}: {text} ({where})", highlight=False)

        run_study(study, out_dir, seeds=chosen, on_event=on_event)
    results = collect(study, out_dir)
    quality = estimate_label_quality(study, out_dir)
    written = write_report(results, out_dir, title=f"Study {study_file.stem}", quality=quality)
    if quality is not None:
        out.print(quality.describe())
    out.print(recommendation(results))
    for path in written:
        out.print(f"wrote {path}")
