"""``earmark audit``: ranked lists of suspected label errors from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from earmark.cli.app import app, console, out
from earmark.config import NON_NEGATIVE, Range, check_options

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
    check_options(
        ("--per-class", per_class, Range(ge=1)),  # leave it out for no cap
        ("--limit", limit, Range(ge=1)),
        ("--min-score", min_score, Range(ge=0, le=1)),
        ("--show", show, NON_NEGATIVE),
    )
    from earmark.audit import suspected_missing, write_audit
    from earmark.pipeline.scoring import score_run

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


def _count_or_share(text: str | None) -> int | float | None:
    if text is None:
        return None
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise ValueError(
            f"--flag-top must be a count (e.g. 20) or a share (e.g. 0.05), got {text!r}"
        ) from None


@audit_app.command("noisy")
def audit_noisy_command(
    run: Annotated[Path, typer.Option(help="a training run or a cross-validation directory (earmark cv)")],
    out_path: Annotated[
        Path | None, typer.Option("--out", help="the CSV to write (default: RUN/audit_noisy.csv)")
    ] = None,
    rounds: Annotated[
        int, typer.Option(help="automatic blacklist rounds: each blacklists the clips it flags, 0 = none")
    ] = 0,
    folds: Annotated[int, typer.Option(help="out-of-fold folds (when fold models must be trained)")] = 5,
    seed: Annotated[int, typer.Option(help="seed of the fold assignment")] = 0,
    sources: Annotated[
        list[str] | None, typer.Option("--source", help="audit clips of this source (repeatable)")
    ] = None,
    flag_top: Annotated[
        str | None, typer.Option(help="a round flags this many clips (20) or this share (0.05)")
    ] = None,
    flag_above: Annotated[
        float | None,
        typer.Option(
            help="a round flags clips whose suspicion is above this (default: confident learning's rule)"
        ),
    ] = None,
    method: Annotated[str, typer.Option(help="calibrated_margin, margin or self_confidence")] = (
        "calibrated_margin"
    ),
    junk_below: Annotated[
        float, typer.Option(help="suggest blacklisting clips whose every class stays below this share")
    ] = 0.25,
    edits_path: Annotated[
        Path | None,
        typer.Option("--edits", help="label edits of the rounds (default: RUN/audit_noisy/blacklist.csv)"),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="at most this many rows in the CSV")] = None,
    show: Annotated[int, typer.Option(help="rows to print")] = 10,
) -> None:
    """Suspected wrong labels and junk clips: out-of-fold scores that disagree with the labels."""
    check_options(
        ("--rounds", rounds, NON_NEGATIVE),
        ("--folds", folds, Range(ge=2, le=1000)),
        ("--seed", seed, NON_NEGATIVE),
        ("--flag-above", flag_above, Range()),
        ("--junk-below", junk_below, Range(ge=0, le=1)),
        ("--limit", limit, NON_NEGATIVE),
        ("--show", show, NON_NEGATIVE),
    )
    from earmark.audit import NOISY_METHODS, write_audit
    from earmark.data.edits import write_edits
    from earmark.pipeline.audit_run import audit_noisy_run

    if method not in NOISY_METHODS:
        raise ValueError(f"--method must be one of {', '.join(NOISY_METHODS)}, got {method!r}")
    if flag_top is not None and flag_above is not None:
        raise ValueError("give --flag-top or --flag-above, not both")

    def on_fold(round_number: int, fold: int, total: int) -> None:
        console.print(f"round {round_number}: training fold model {fold} of {total}")

    audit = audit_noisy_run(
        run,
        rounds=rounds,
        folds=folds,
        seed=seed,
        sources=tuple(sources or ("curated", "noisy")),
        top=_count_or_share(flag_top),
        above=flag_above,
        method=method,  # type: ignore[arg-type]
        junk_below=junk_below,
        on_fold=on_fold,
    )
    last = audit.rounds[-1]
    items = last.items if limit is None else last.items[:limit]
    path = write_audit(items, out_path or run / "audit_noisy.csv")
    table = Table("rank", "clip", "class", "suggestion", "score", title="suspected wrong labels")
    for rank, item in enumerate(items[:show], start=1):
        table.add_row(str(rank), item.clip, item.class_name, item.suggestion, f"{item.score:.3f}")
    out.print(table)
    for result in audit.rounds if rounds else []:
        console.print(
            f"round {result.round}: {result.labels.num_clips} clips scored out of fold, "
            f"{int(result.flagged.sum())} flagged and blacklisted"
        )
    if rounds:
        edits = write_edits(edits_path or run / "audit_noisy" / "blacklist.csv", audit.edits)
        console.print(f"{len(audit.edits)} blacklist edits written to {edits}")
    console.print(
        f"{len(last.items)} suspected wrong labels or junk clips among {last.labels.num_clips} audited "
        f"clips; wrote {path}"
    )
