"""``earmark audit``: ranked lists of suspected label errors from a trained run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from earmark.cli.app import app, console, out
from earmark.config import NON_NEGATIVE, Range, check_options

if TYPE_CHECKING:
    import numpy as np

    from earmark.audit import RateEstimate
    from earmark.data.labels import Labels

audit_app = typer.Typer(help="Rank suspected label errors with a trained run, as CSV.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _is_cross_validation(run: Path) -> bool:
    """A directory of ``fold-<k>/`` runs (``earmark cv``) rather than one training run."""
    return not (run / "config.yaml").is_file() and any(run.glob("fold-*/predictions/test.npz"))


def _missing_scores(
    run: Path, *, folds: int | None, seed: int, split: str, checkpoint: str
) -> tuple[Labels, np.ndarray, str]:
    """The audited labels, their scores, and how they were scored (``out_of_fold`` / ``in_fold``)."""
    from earmark.pipeline.audit_run import run_training_clips
    from earmark.pipeline.oof import out_of_fold_scores
    from earmark.pipeline.scoring import score_run

    if split not in ("train", "valid", "test", "all"):
        raise ValueError(f"--split must be train, valid, test or all, got {split!r}")
    cross_validation = _is_cross_validation(run)
    if (cross_validation or folds is not None) and split != "train":
        raise ValueError(
            f"--split {split} scores a run's own model on that split; out-of-fold scores (a "
            "cross-validation directory, or --folds) cover the training clips: leave --split out"
        )
    if cross_validation:
        _, _, known = run_training_clips(run)
        if known is None:
            raise ValueError(f"{run} holds no fold runs with out-of-fold test predictions")
        return known[0], known[1], "out_of_fold"
    if folds is None:
        labels, scores = score_run(run, split=split, checkpoint=checkpoint)  # type: ignore[arg-type]
        return labels, scores, "in_fold" if split == "train" else split

    def on_fold(fold: int, total: int) -> None:
        console.print(f"training fold model {fold} of {total}")

    import numpy as np

    template, train, _ = run_training_clips(run)
    everyone = np.ones(train.num_clips, dtype=bool)
    scores = out_of_fold_scores(
        template, train, everyone, folds=folds, seed=seed, run_dir=run / "audit_missing", on_fold=on_fold
    )
    return train, scores, "out_of_fold"


def _print_estimate(what: str, estimate: RateEstimate) -> None:
    out.print(f"estimated {what}: {estimate}")


@audit_app.command("missing")
def audit_missing_command(
    run: Annotated[Path, typer.Option(help="a training run or a cross-validation directory (earmark cv)")],
    out_path: Annotated[
        Path | None, typer.Option("--out", help="the CSV to write (default: RUN/audit_missing.csv)")
    ] = None,
    folds: Annotated[
        int | None,
        typer.Option(help="score a training run's clips out of fold: train this many fold models"),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the fold assignment (with --folds)")] = 0,
    split: Annotated[
        str, typer.Option(help="train, valid, test or all (a training run's own model)")
    ] = "train",
    checkpoint: Annotated[str, typer.Option(help="best or last")] = "best",
    per_class: Annotated[int | None, typer.Option(help="at most this many per class")] = None,
    limit: Annotated[int | None, typer.Option(help="at most this many rows")] = None,
    min_score: Annotated[float, typer.Option(help="drop entries scored below this")] = 0.0,
    show: Annotated[int, typer.Option(help="rows to print")] = 10,
) -> None:
    """Suspected missing labels: entries not labeled positive that a model scores high.

    A cross-validation directory (or --folds) scores each clip with the model that did not train
    on it; a training run's own model scores clips it was trained on, whose labeled positives it
    scores far above their missing ones, so the estimated share missing comes out far too low (and
    positives it memorised as negatives rank low). The estimated share of positives that are
    missing is printed first and written to a JSON beside the CSV.
    """
    check_options(
        ("--folds", folds, Range(ge=2, le=1000)),
        ("--seed", seed, NON_NEGATIVE),
        ("--per-class", per_class, Range(ge=1)),  # leave it out for no cap
        ("--limit", limit, Range(ge=1)),
        ("--min-score", min_score, Range(ge=0, le=1)),
        ("--show", show, NON_NEGATIVE),
    )
    from earmark.audit import estimate_missing_rate, suspected_missing, write_audit, write_audit_summary

    labels, scores, scored = _missing_scores(run, folds=folds, seed=seed, split=split, checkpoint=checkpoint)
    estimate = estimate_missing_rate(labels, scores)
    _print_estimate("share of positives missing", estimate)
    if scored == "in_fold":
        console.print(
            "warning: these are the run's own training clips (in-fold scores): the model was trained on "
            "their labels, so the estimate comes out far too low and missing positives it memorised as "
            "negatives rank low; give a cross-validation directory (earmark cv) or --folds K for "
            "out-of-fold scores"
        )
    items = suspected_missing(labels, scores, per_class=per_class, min_score=min_score, limit=limit)
    path = write_audit(items, out_path or run / "audit_missing.csv")
    summary = {
        "audit": "missing",
        "scores": scored,
        "clips": labels.num_clips,
        "missing_entries": int(labels.missing.sum()),
        "labeled_positives": int(labels.positive.sum()),
        "listed": len(items),
        "missing_rate": dataclasses.asdict(estimate),
    }
    write_audit_summary(path, summary)
    table = Table(
        "rank", "clip", "class", "score", "rank in class", title=f"suspected missing labels ({scored})"
    )
    for rank, item in enumerate(items[:show], start=1):
        table.add_row(str(rank), item.clip, item.class_name, f"{item.score:.3f}", str(item.class_rank))
    out.print(table)
    console.print(
        f"{len(items)} suspected missing labels among {int(labels.missing.sum())} missing entries "
        f"of {labels.num_clips} clips ({scored.replace('_', '-')} scores); wrote {path} and its summary"
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
    """Suspected wrong labels and junk clips: out-of-fold scores that disagree with the labels.

    The estimated share of wrong labels (of the clips as given, before any round) is printed
    first and written, with each round's, to a JSON beside the CSV.
    """
    check_options(
        ("--rounds", rounds, NON_NEGATIVE),
        ("--folds", folds, Range(ge=2, le=1000)),
        ("--seed", seed, NON_NEGATIVE),
        ("--flag-above", flag_above, Range()),
        ("--junk-below", junk_below, Range(ge=0, le=1)),
        ("--limit", limit, NON_NEGATIVE),
        ("--show", show, NON_NEGATIVE),
    )
    from earmark.audit import NOISY_METHODS, estimate_noise_rate, write_audit, write_audit_summary
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
    estimates = [estimate_noise_rate(result.labels, result.scores) for result in audit.rounds]
    _print_estimate("share of labels wrong", estimates[0])
    last = audit.rounds[-1]
    items = last.items if limit is None else last.items[:limit]
    path = write_audit(items, out_path or run / "audit_noisy.csv")
    summary = {
        "audit": "noisy",
        "scores": "out_of_fold",
        "clips": audit.rounds[0].labels.num_clips,
        "labels": int(audit.rounds[0].labels.positive.sum()),
        "listed": len(last.items),
        "noise_rate": dataclasses.asdict(estimates[0]),
        "rounds": [
            {
                "round": result.round,
                "clips": result.labels.num_clips,
                "flagged": int(result.flagged.sum()),
                "noise_rate": dataclasses.asdict(estimate),
            }
            for result, estimate in zip(audit.rounds, estimates, strict=True)
        ],
    }
    write_audit_summary(path, summary)
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
        f"clips; wrote {path} and its summary"
    )
