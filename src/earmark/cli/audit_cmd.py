"""``earmark audit``: ranked lists of suspected label errors from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from earmark.cli.app import app, console, out

audit_app = typer.Typer(help="Rank suspected label errors with a trained run, as CSV.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("missing")
def audit_missing_command(
    run: Annotated[Path, typer.Option(help="a training run directory")],
    out_path: Annotated[
        Path | None, typer.Option("--out", help="the CSV to write (default: RUN/audit_missing.csv)")
    ] = None,
    split: Annotated[str, typer.Option(help="train, valid, test or all")] = "train",
    checkpoint: Annotated[str, typer.Option(help="best or last")] = "best",
    per_class: Annotated[int | None, typer.Option(help="at most this many per class")] = None,
    limit: Annotated[int | None, typer.Option(help="at most this many rows")] = None,
    min_score: Annotated[float, typer.Option(help="drop entries scored below this")] = 0.0,
    show: Annotated[int, typer.Option(help="rows to print")] = 10,
) -> None:
    """Suspected missing labels: entries not labeled positive that the run's model scores high."""
    from earmark.audit import score_run, suspected_missing, write_audit

    if split not in ("train", "valid", "test", "all"):
        raise ValueError(f"--split must be train, valid, test or all, got {split!r}")
    labels, scores = score_run(run, split=split, checkpoint=checkpoint)  # type: ignore[arg-type]
    items = suspected_missing(labels, scores, per_class=per_class, min_score=min_score, limit=limit)
    path = write_audit(items, out_path or run / "audit_missing.csv")
    table = Table(
        "rank", "clip", "class", "score", "rank in class", title=f"suspected missing labels ({split})"
    )
    for rank, item in enumerate(items[:show], start=1):
        table.add_row(str(rank), item.clip, item.class_name, f"{item.score:.3f}", str(item.class_rank))
    out.print(table)
    console.print(
        f"{len(items)} suspected missing labels among {int(labels.missing.sum())} missing entries "
        f"of {labels.num_clips} clips; wrote {path}"
    )
