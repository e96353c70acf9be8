"""``earmark simulate``: polyphonic mixtures from real clips, and missing labels at a rate."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from earmark.cli.app import app, console
from earmark.config import NON_NEGATIVE, ConfigError, Range, apply_overrides, check_options

simulate_app = typer.Typer(help="Simulate label problems on real data (seeded).", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")


TrainMixtures = Annotated[int, typer.Option(help="mixtures from the train recordings")]
TestMixtures = Annotated[int, typer.Option(help="mixtures from the test recordings")]
TestShare = Annotated[float, typer.Option(help="share of each class's recordings kept for test")]
MinSources = Annotated[int, typer.Option(help="fewest clips (distinct classes) per mixture")]
MaxSources = Annotated[int, typer.Option(help="most clips (distinct classes) per mixture")]
MinGain = Annotated[
    float, typer.Option(help="lowest gain of a clip, dB relative to the level every clip is set to")
]
MaxGain = Annotated[float, typer.Option(help="highest gain of a clip, dB")]
Seconds = Annotated[
    float,
    typer.Option(
        help="mixture length (a longer clip is cropped at random, a shorter one starts at a random onset)"
    ),
]
Seed = Annotated[int, typer.Option(help="seed of every draw")]


@dataclasses.dataclass(frozen=True)
class _MixSettings:
    train_mixtures: int
    test_mixtures: int
    test_share: float
    min_sources: int
    max_sources: int
    min_gain_db: float
    max_gain_db: float
    seconds: float
    seed: int

    def check(self) -> None:
        check_options(
            ("--train-mixtures", self.train_mixtures, NON_NEGATIVE),
            ("--test-mixtures", self.test_mixtures, NON_NEGATIVE),
            ("--test-share", self.test_share, Range(ge=0, le=1)),
            ("--min-sources", self.min_sources, Range(ge=1, le=100)),
            ("--max-sources", self.max_sources, Range(ge=1, le=100)),
            ("--min-gain-db", self.min_gain_db, Range(ge=-120, le=40)),
            ("--max-gain-db", self.max_gain_db, Range(ge=-120, le=40)),
            ("--seconds", self.seconds, Range(gt=0, le=3600)),
            ("--seed", self.seed, NON_NEGATIVE),
        )
        if self.min_gain_db > self.max_gain_db:
            raise ConfigError(f"--min-gain-db {self.min_gain_db} exceeds --max-gain-db {self.max_gain_db}")


def _mix(sources: list[Any], out: Path, settings: _MixSettings) -> None:
    """Split the sources' recordings into train and test, mix each side, and say what was written."""
    from earmark.data.simulate import mix_clips, split_recordings

    train, test = split_recordings(sources, test_share=settings.test_share, seed=settings.seed)
    result = mix_clips(
        train,
        test,
        out,
        train_mixtures=settings.train_mixtures,
        test_mixtures=settings.test_mixtures,
        seconds=settings.seconds,
        sources_per_mixture=(settings.min_sources, settings.max_sources),
        gain_db=(settings.min_gain_db, settings.max_gain_db),
        seed=settings.seed,
    )
    recordings = len({c.recording for c in sources})
    sides = len({c.recording for c in train}), len({c.recording for c in test})
    console.print(
        f"{len(sources)} source clips of {recordings} recordings ({len(train)} clips of {sides[0]} "
        f"recordings to train, {len(test)} of {sides[1]} to test, no recording in both); "
        f"wrote {result.num_mixtures['train']} + {result.num_mixtures['test']} "
        f"mixtures and {result.table}; prepare with: earmark prepare csv --set table={result.table} "
        f"--set classes={result.classes}"
    )


@simulate_app.command("mix")
def mix_command(
    out: Annotated[Path, typer.Option(help="folder for the mixtures, mixtures.csv and classes.txt")],
    root: Annotated[
        Path | None, typer.Option(help="a data set of the --layout (default: a folder per class) to mix")
    ] = None,
    layout: Annotated[str, typer.Option(help="the layout of --root (see earmark list loaders)")] = "folder",
    set_: Annotated[list[str] | None, typer.Option("--set", help="loader option key=value")] = None,
    prepared: Annotated[Path | None, typer.Option(help="a prepared directory to mix instead")] = None,
    group_pattern: Annotated[
        str | None,
        typer.Option(help="regex whose first group, in a clip id, names its recording (kept on one side)"),
    ] = None,
    sources_per_class: Annotated[
        int | None, typer.Option(help="use at most this many clips of each class (a seeded draw)")
    ] = None,
    train_mixtures: TrainMixtures = 1600,
    test_mixtures: TestMixtures = 400,
    test_share: TestShare = 0.3,
    min_sources: MinSources = 2,
    max_sources: MaxSources = 4,
    min_gain_db: MinGain = -10.0,
    max_gain_db: MaxGain = 0.0,
    seconds: Seconds = 5.0,
    seed: Seed = 0,
) -> None:
    """Mixtures of 2-k single-label clips of distinct classes from any data set; labels = union."""
    settings = _MixSettings(
        train_mixtures,
        test_mixtures,
        test_share,
        min_sources,
        max_sources,
        min_gain_db,
        max_gain_db,
        seconds,
        seed,
    )
    settings.check()
    check_options(("--sources-per-class", sources_per_class, Range(ge=1)))
    if (root is None) == (prepared is None):
        raise ConfigError(
            "give the data to mix: --root (a layout's data, with --layout and --set) or --prepared"
        )
    if group_pattern is not None:
        from earmark.training.config import check_group_pattern

        check_group_pattern(group_pattern, "--group-pattern")
    from earmark.data.simulate import limit_per_class, sources_from_labels, sources_from_prepared

    if prepared is not None:
        sources = sources_from_prepared(prepared, group_pattern=group_pattern)
    else:
        from earmark.data.loaders import load_dataset

        manifest = load_dataset(layout, apply_overrides({"root": str(root)}, set_ or []))
        if manifest.precomputed is not None:
            raise ConfigError(f"layout {layout!r} ships features, not audio: there is nothing to mix")
        sources = sources_from_labels(
            manifest.labels, manifest.audio_paths.tolist(), group_pattern=group_pattern
        )
    if sources_per_class is not None:
        sources = limit_per_class(sources, sources_per_class, seed=seed)
    _mix(sources, out, settings)


@simulate_app.command("esc-mix")
def esc_mix_command(
    out: Annotated[Path, typer.Option(help="folder for the mixtures, mixtures.csv and classes.txt")],
    data: Annotated[Path, typer.Option(help="the data root holding esc10/ and esc50_fold4/")] = Path(
        "../shared/data"
    ),
    train_mixtures: TrainMixtures = 1600,
    test_mixtures: TestMixtures = 400,
    test_share: TestShare = 0.3,
    min_sources: MinSources = 2,
    max_sources: MaxSources = 4,
    min_gain_db: MinGain = -10.0,
    max_gain_db: MaxGain = 0.0,
    seconds: Seconds = 5.0,
    seed: Seed = 0,
) -> None:
    """ESC-mix, a preset of `simulate mix`: ESC-10 and ESC-50 fold 4 clips, recordings by Freesound id."""
    settings = _MixSettings(
        train_mixtures,
        test_mixtures,
        test_share,
        min_sources,
        max_sources,
        min_gain_db,
        max_gain_db,
        seconds,
        seed,
    )
    settings.check()
    from earmark.data.simulate import esc_sources

    _mix(esc_sources(data), out, settings)


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
