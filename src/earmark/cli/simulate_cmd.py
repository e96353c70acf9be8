"""``earmark simulate``: polyphonic mixtures from real clips, and missing labels at a rate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from earmark.cli.app import app, console
from earmark.config import NON_NEGATIVE, Range, check_options

simulate_app = typer.Typer(help="Simulate label problems on real data (seeded).", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")


@simulate_app.command("esc-mix")
def esc_mix_command(
    out: Annotated[Path, typer.Option(help="folder for the mixtures, mixtures.csv and classes.txt")],
    data: Annotated[Path, typer.Option(help="the data root holding esc10/ and esc50_fold4/")] = Path(
        "../shared/data"
    ),
    train_mixtures: Annotated[int, typer.Option(help="mixtures from the train recordings")] = 1600,
    test_mixtures: Annotated[int, typer.Option(help="mixtures from the test recordings")] = 400,
    test_share: Annotated[float, typer.Option(help="share of each class's recordings kept for test")] = 0.3,
    min_sources: Annotated[int, typer.Option(help="fewest clips per mixture")] = 2,
    max_sources: Annotated[int, typer.Option(help="most clips per mixture")] = 4,
    seconds: Annotated[float, typer.Option(help="mixture length")] = 5.0,
    seed: Annotated[int, typer.Option(help="seed of every draw")] = 0,
) -> None:
    """ESC-mix: 2-4 ESC clips per mixture, labels = union, train and test recordings disjoint."""
    check_options(
        ("--train-mixtures", train_mixtures, NON_NEGATIVE),
        ("--test-mixtures", test_mixtures, NON_NEGATIVE),
        ("--test-share", test_share, Range(ge=0, le=1)),
        ("--min-sources", min_sources, Range(ge=1, le=100)),
        ("--max-sources", max_sources, Range(ge=1, le=100)),
        ("--seconds", seconds, Range(gt=0, le=3600)),
        ("--seed", seed, NON_NEGATIVE),
    )
    from earmark.data.simulate import esc_sources, mix_clips, split_recordings

    sources = esc_sources(data)
    train, test = split_recordings(sources, test_share=test_share, seed=seed)
    result = mix_clips(
        train,
        test,
        out,
        train_mixtures=train_mixtures,
        test_mixtures=test_mixtures,
        seconds=seconds,
        sources_per_mixture=(min_sources, max_sources),
        seed=seed,
    )
    console.print(
        f"{len(sources)} source clips ({len(train)} train, {len(test)} test, no recording in both); "
        f"wrote {result.num_mixtures['train']} + {result.num_mixtures['test']} mixtures and {result.table}; "
        f"prepare with: earmark prepare csv --set table={result.table} --set classes={result.classes}"
    )


@simulate_app.command("missing")
def missing_command(
    labels: Annotated[Path, typer.Option(help="the complete label table (csv, csv.gz or npz)")],
    out: Annotated[Path, typer.Option(help="the label table to write")],
    rate: Annotated[float, typer.Option(help="share of entries (explicit) or positives to drop")],
    mode: Annotated[str, typer.Option(help="explicit or positives_only")] = "explicit",
    seed: Annotated[int, typer.Option(help="seed of the draw")] = 0,
    keep_folds: Annotated[
        list[int] | None, typer.Option(help="folds left untouched (e.g. the test fold); repeatable")
    ] = None,
) -> None:
    """Drop labels at a rate: explicit (any entry becomes missing) or positives-only."""
    check_options(
        ("--rate", rate, Range(ge=0, le=1)),
        ("--seed", seed, NON_NEGATIVE),
    )
    from earmark.data.simulate import drop_labels
    from earmark.data.table import read_labels, write_labels

    if mode not in ("explicit", "positives_only"):
        raise ValueError(f"--mode must be explicit or positives_only, got {mode!r}")
    table = read_labels(labels)
    clips = ~np.isin(table.fold, keep_folds or [])
    dropped = drop_labels(table, rate=rate, mode=mode, seed=seed, clips=clips)  # type: ignore[arg-type]
    write_labels(dropped, out)
    before, after = int(table.annotated[clips].sum()), int(dropped.annotated[clips].sum())
    console.print(
        f"{mode}: {before - after} of {before} annotated entries of {int(clips.sum())} clips dropped "
        f"or made implicit; {int(dropped.positive.sum())} positives left; wrote {out}"
    )
