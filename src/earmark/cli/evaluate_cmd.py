"""``earmark evaluate`` (metrics, plots, report of one predictions file), ``earmark compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from earmark.cli.app import app, console, out
from earmark.config import NON_NEGATIVE, ConfigError, Range, check_options
from earmark.data.labels import Labels, MaskMode
from earmark.data.table import read_labels
from earmark.ensemble import paired_predictions
from earmark.metrics import HEADLINE_METRICS, METRICS, paired_bootstrap, read_group_map, scalar_metric
from earmark.predictions import Predictions, read_run_predictions
from earmark.report import evaluate, write_report

MASK_HELP = (
    "which entries count: auto (as the run's summary.json: missing entries of partly annotated "
    "labels are left out, of complete or positives-only labels count as negatives), on (annotated "
    "entries only) or off (missing = negative)"
)


@app.command("evaluate")
def evaluate_command(
    predictions: Annotated[
        Path,
        typer.Option(
            "--predictions", help="predictions file (.npz or .csv), or a run directory (see --split)"
        ),
    ],
    labels: Annotated[Path, typer.Option("--labels", help="label table (.csv, .csv.gz or .npz)")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory for metrics, plots and report")],
    mask: Annotated[MaskMode, typer.Option("--mask", help=MASK_HELP)] = "auto",
    groups: Annotated[
        Path | None,
        typer.Option("--groups", help="class → group map (.csv class,group / .json / .yaml)"),
    ] = None,
    threshold: Annotated[float, typer.Option(help="decision threshold of the F1 scores")] = 0.5,
    bootstrap: Annotated[int, typer.Option(help="bootstrap resamples for intervals (0 = none)")] = 200,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
    plots: Annotated[bool, typer.Option(help="draw the plots (needs matplotlib)")] = True,
    title: Annotated[str, typer.Option(help="title of the report")] = "earmark evaluation",
    split: Annotated[
        str | None,
        typer.Option(
            help="which split of a run directory (default: valid with --tune-thresholds, else test)"
        ),
    ] = None,
    thresholds: Annotated[
        Path | None,
        typer.Option(help="per-class thresholds (a run's thresholds.json): F1 at them beside --threshold's"),
    ] = None,
    tune_thresholds: Annotated[
        bool,
        typer.Option(
            "--tune-thresholds",
            help="tune per-class F1 thresholds on these (validation) predictions and write them to the "
            "run's thresholds.json (refused on a test split)",
        ),
    ] = False,
    thresholds_out: Annotated[
        Path | None, typer.Option(help="where --tune-thresholds writes (default: RUN/thresholds.json)")
    ] = None,
) -> None:
    """Write metrics.json, summary.md, plots and report.html for one predictions file."""
    check_options(
        ("--threshold", threshold, Range(ge=0, le=1)),
        ("--bootstrap", bootstrap, Range(ge=0, le=1_000_000)),
        ("--seed", seed, NON_NEGATIVE),
    )
    from earmark.thresholds import read_thresholds, thresholded_figures

    chosen_split = split or ("valid" if tune_thresholds else "test")
    scores = read_run_predictions(predictions, split=chosen_split)
    label_table = read_labels(labels)
    if tune_thresholds:
        _tune(predictions, chosen_split, scores, label_table, mask, thresholds_out)
    evaluation = evaluate(
        scores,
        label_table,
        mask=mask,
        class_to_group=None if groups is None else read_group_map(groups),
        threshold=threshold,
        num_resamples=bootstrap,
        rng=np.random.default_rng(seed),
    )
    if thresholds is not None:
        tuned = thresholded_figures(evaluation, read_thresholds(thresholds))
        evaluation.metrics["tuned_thresholds"] = {"file": str(thresholds), **tuned}
        out.print(
            f"at the thresholds of {thresholds} (tuned on {tuned['split'] or 'an unnamed split'}): "
            f"f1_macro {_number(tuned['f1_macro'])}, openmic_paper_f1 {_number(tuned['openmic_paper_f1'])}",
            highlight=False,
        )
    sources = {"predictions": str(predictions), "labels": str(labels)}
    files = write_report(evaluation, out_dir, title=title, sources=sources, with_plots=plots)
    summary = evaluation.metrics["summary"]
    table = Table(title=f"{evaluation.labels.num_clips} clips × {evaluation.labels.num_classes} classes")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        table.add_row(name, "undefined" if value is None else f"{value:.4f}")
    out.print(table)
    if "plots_skipped" in evaluation.metrics or (plots and not files.plots):
        console.print("plots skipped: install the 'plots' extra (matplotlib)")
    console.print(f"wrote {files.metrics_json}, {files.summary_markdown.name}, {files.html.name}")


def _number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def _tune(
    predictions: Path,
    split: str,
    scores: Predictions,
    labels: Labels,
    mask: MaskMode,
    target: Path | None,
) -> None:
    """Tune per-class thresholds on ``scores`` and write them where the run keeps them."""
    from earmark.thresholds import TEST_SPLITS, THRESHOLDS_FILE, tune_thresholds

    stem = predictions.name.split(".")[0]
    if not predictions.is_dir() and stem.lower() in TEST_SPLITS:
        split = stem  # a file named like a test split is refused whatever --split says
    if predictions.is_dir():
        run: Path | None = predictions
    elif predictions.parent.name == "predictions":  # RUN/predictions/<split>.npz
        run, split = predictions.parent.parent, predictions.name.split(".")[0]
    else:
        run = None
    if target is None:
        if run is None:
            raise ConfigError(
                f"{predictions} is not in a run's predictions/ folder: "
                "give --thresholds-out for the thresholds file"
            )
        target = run / THRESHOLDS_FILE
    test = None
    if run is not None and (run / "predictions" / "test.npz").is_file():
        test = Predictions.read(run / "predictions" / "test.npz")
    tuned = tune_thresholds(scores, labels, split=split, mask=mask, test_predictions=test)
    tuned.write(target)
    figures = tuned.figures
    out.print(
        f"tuned {len(tuned.class_names)} thresholds on {figures['clips']} {split} clips: f1_macro "
        f"{_number(figures['f1_macro_at_0.5'])} at 0.5 -> {_number(figures['f1_macro_tuned'])} tuned; "
        f"wrote {target}",
        highlight=False,
    )


@app.command("compare")
def compare_command(
    run_a: Annotated[
        Path,
        typer.Argument(help="run directory (predictions/test.npz or predictions.npz) or predictions file"),
    ],
    run_b: Annotated[Path, typer.Argument(help="the other run, scored on the same clips")],
    labels: Annotated[Path, typer.Option("--labels", help="label table of the clips")],
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help=f"repeatable; one of {', '.join(METRICS)}"),
    ] = None,
    mask: Annotated[MaskMode, typer.Option("--mask", help=MASK_HELP)] = "auto",
    resamples: Annotated[int, typer.Option(help="paired bootstrap resamples")] = 1000,
    confidence: Annotated[float, typer.Option(help="coverage of the interval")] = 0.95,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
) -> None:
    """Paired bootstrap comparison of two runs: B − A, its interval and p-value, per metric."""
    check_options(
        ("--resamples", resamples, Range(ge=1, le=1_000_000)),
        ("--confidence", confidence, Range(gt=0, lt=1)),
        ("--seed", seed, NON_NEGATIVE),
    )
    names = list(metric) if metric else list(HEADLINE_METRICS)
    functions = [scalar_metric(name) for name in names]
    label_table = read_labels(labels)
    first, second, labels_a = paired_predictions(
        read_run_predictions(run_a), read_run_predictions(run_b), label_table
    )
    known = labels_a.evaluation_mask(mask)
    table = Table(title=f"B − A on {labels_a.num_clips} clips, {resamples} paired resamples")
    for column in ("metric", "A", "B", "B − A", f"{confidence:.0%} interval", "p-value"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, function in zip(names, functions, strict=True):
        result = paired_bootstrap(
            function,
            labels_a.positive,
            first.scores,
            second.scores,
            mask=known,
            rng=np.random.default_rng(seed),
            num_resamples=resamples,
            confidence=confidence,
        )
        table.add_row(
            name,
            f"{result.metric_a:.4f}",
            f"{result.metric_b:.4f}",
            f"{result.difference:+.4f}",
            f"[{result.low:+.4f}, {result.high:+.4f}]",
            f"{result.p_value:.4f}",
        )
    out.print(table)
    console.print(f"A = {run_a}\nB = {run_b}", highlight=False)
