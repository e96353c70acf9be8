"""``earmark prepare``, ``earmark merge-shards`` and ``earmark info``."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table
from typer.core import TyperCommand

from earmark.cli.app import app, console, out
from earmark.cli.catalog import load_catalog, options_table
from earmark.cli.progress import DEFAULT_EVERY_SECONDS, ProgressReport
from earmark.config import ConfigError, Range, apply_overrides, check_ranges, from_dict, load_yaml
from earmark.data.table import read_labels
from earmark.features.frontend import FrontendConfig
from earmark.features.logmel import LogMelConfig
from earmark.features.store import FeatureStore


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    """Everything ``earmark prepare`` needs; a YAML file or ``--set`` options fill it.

    Attributes
    ----------
    layout : the data-set layout (``earmark list loaders``).
    options : the layout's options (``earmark prepare LAYOUT --help``).
    frontend : the front-end and its options (``earmark list frontends``).
    on_error : ``raise`` on a bad audio file, or ``skip`` it (listed in skipped.csv).
    workers : decoding threads.
    batch_clips : clips computed together by the front-end.

    """

    layout: str = "folder"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    frontend: FrontendConfig = dataclasses.field(default_factory=LogMelConfig)
    on_error: Literal["raise", "skip"] = "raise"
    workers: Annotated[int, Range(ge=1, le=1024)] = 2
    batch_clips: Annotated[int, Range(ge=1, le=65_536)] = 16

    def __post_init__(self) -> None:
        check_ranges(self)


def _add_label_rows(table: Table, labels: dict[str, Any]) -> None:
    """Rows of a label summary (:meth:`LabelSummary.as_dict`), shared by every view."""
    table.add_row("clips", str(labels["num_clips"]))
    table.add_row("classes", str(labels["num_classes"]))
    table.add_row("folds", ", ".join(map(str, labels["folds"])) or "-")
    table.add_row("clips per source", ", ".join(f"{k}: {v}" for k, v in labels["clips_per_source"].items()))


def _summary_table(directory: Path) -> Table:
    summary = json.loads((directory / "prepare.json").read_text(encoding="utf-8"))
    labels = summary["labels"]
    table = Table(title=f"prepared {directory}", show_header=False)
    _add_label_rows(table, labels)
    table.add_row("clips per split", ", ".join(f"{k}: {v}" for k, v in summary["clips_per_split"].items()))
    table.add_row("positives per clip", f"{labels['label_density']:.3f}")
    table.add_row("fraction missing", f"{labels['fraction_missing']:.3f}")
    table.add_row("hours of audio", f"{labels['total_duration_seconds'] / 3600:.3f}")
    table.add_row("skipped", f"{summary['skipped']} (see skipped.csv)" if summary["skipped"] else "0")
    if summary.get("edits"):
        table.add_row("label edits", ", ".join(f"{k}: {v}" for k, v in summary["edits"].items()))
    table.add_row("seconds", f"{summary['seconds']:.1f}")
    table.add_row("front-end hash", summary["frontend_hash"])
    return table


class PrepareCommand(TyperCommand):
    """``earmark prepare LAYOUT --help`` adds the options of that layout to the help."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Parse as usual, keeping the raw arguments for :meth:`format_help`."""
        ctx.meta["earmark.prepare.args"] = list(args)
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The command's help, then the options of the layout named on the command line."""
        super().format_help(ctx, formatter)
        layouts = load_catalog()["loaders"]
        layout = next((a for a in ctx.meta.get("earmark.prepare.args", []) if a in layouts), None)
        if layout is None:
            out.print(f"earmark prepare LAYOUT --help lists the options of a layout: {', '.join(layouts)}")
            return
        out.print(options_table("loaders", layout))
        out.print(
            f"set them with --set key=value; `earmark write-default-config prepare.yaml {layout}` "
            "writes them all"
        )


@app.command("prepare", cls=PrepareCommand)
def prepare_command(
    layout: Annotated[
        str, typer.Argument(help=f"data-set layout: {', '.join(sorted(load_catalog()['loaders']))}")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="directory to write the prepared data to")],
    root: Annotated[str | None, typer.Option(help="the layout's root folder (its 'root' option)")] = None,
    config: Annotated[Path | None, typer.Option(help="a prepare YAML (see write-default-config)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="loader option key=value")] = None,
    frontend_set: Annotated[
        list[str] | None, typer.Option("--frontend-set", help="front-end key=value")
    ] = None,
    on_error: Annotated[str | None, typer.Option(help="raise (default) or skip bad clips")] = None,
    shard: Annotated[
        str | None, typer.Option(help="i/n: prepare only shard i of n ('auto' under torchrun)")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="decoding threads")] = None,
    edits: Annotated[
        list[Path] | None,
        typer.Option("--edits", help="a label-edits CSV to apply (repeatable; later files win)"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar or progress lines")] = False,
    progress_seconds: Annotated[
        float,
        typer.Option(help="seconds between progress lines when stdout is not a terminal (a log file)"),
    ] = DEFAULT_EVERY_SECONDS,
) -> None:
    """Read a data set, compute its features into a store, and write its label table."""
    from earmark.data.edits import read_edits
    from earmark.data.loaders import LOADERS, load_dataset
    from earmark.prepare import parse_shard, prepare

    data: dict[str, Any] = load_yaml(config) if config else {}
    data["layout"] = layout
    options = dict(data.get("options") or {})
    if root is not None:
        # an unknown layout is reported by load_dataset below, with the known ones listed
        options_class = LOADERS.entry(layout).config_class if layout in LOADERS else None
        known = dataclasses.fields(options_class) if options_class is not None else ()
        if known and "root" not in {f.name for f in known}:
            raise ConfigError(f"layout {layout!r} has no 'root' option; use --set with its options")
        options["root"] = root
    data["options"] = apply_overrides(options, set_ or [])
    frontend_given = bool(data.get("frontend") or frontend_set)
    data["frontend"] = apply_overrides(dict(data.get("frontend") or {"name": "logmel"}), frontend_set or [])
    if on_error is not None:
        data["on_error"] = on_error
    if workers is not None:
        data["workers"] = workers
    settings = from_dict(PrepareConfig, data)
    label_edits = [edit for path in edits or [] for edit in read_edits(path)]
    manifest = load_dataset(settings.layout, settings.options)
    if manifest.precomputed is not None and not frontend_given:
        # a layout that ships its features (OpenMIC, AudioSet) describes them itself
        settings = dataclasses.replace(settings, frontend=manifest.precomputed.config)
    console.print(
        f"{manifest.name}: {manifest.labels.num_clips} clips, {manifest.labels.num_classes} classes, "
        f"splits {', '.join(manifest.split_names)}"
    )
    # decoding threads and torch's own threads share the cores: give torch what is left while
    # preparing, and put the setting back afterwards (callers in the same process keep theirs)
    import torch  # here, not at the top: `earmark info` and `--help` start without torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) - settings.workers))
    try:
        report = ProgressReport("prepare", unit="clips", quiet=quiet, every_seconds=progress_seconds)
        with report:
            blacklisted = {e.clip for e in label_edits if e.action == "blacklist"}
            total = manifest.labels.num_clips - len(blacklisted & set(manifest.labels.clip_ids.tolist()))
            report.update(0, total)
            result = prepare(
                manifest,
                out_dir,
                settings.frontend,
                on_error=settings.on_error,
                shard=parse_shard(shard),
                batch_clips=settings.batch_clips,
                workers=settings.workers,
                progress=report.advance,
                edits=label_edits,
            )
    finally:
        torch.set_num_threads(threads)
    if not result.finished:
        from earmark.merge import merge_shards_when_complete  # the last shard to finish merges

        if merge_shards_when_complete(out_dir) is None:
            console.print(f"shard written under {out_dir}/features; the last shard to finish merges them all")
            return
    out.print(_summary_table(Path(out_dir)))


@app.command("merge-shards")
def merge_shards_command(
    out_dir: Annotated[Path, typer.Option("--out", help="the prepared directory holding the shards")],
) -> None:
    """Merge the shards written by ``prepare --shard i/n`` into one store per split."""
    from earmark.prepare import merge_shards

    merge_shards(out_dir)
    out.print(_summary_table(out_dir))


@app.command("info")
def info_command(
    path: Annotated[Path, typer.Argument(help="a prepared directory, a store directory or a label table")],
    classes: Annotated[bool, typer.Option(help="list positives per class")] = False,
) -> None:
    """Describe a prepared directory, a feature store or a label table."""
    if path.is_file():
        _print_labels(read_labels(path), classes)
        return
    if (path / "store.json").exists() or (path / "progress.jsonl").exists():
        _print_store(FeatureStore(path))
        return
    if not (path / "labels.csv").exists():
        raise ConfigError(
            f"{path} is neither a prepared directory (no labels.csv), a store nor a label table"
        )
    if (path / "prepare.json").exists():
        out.print(_summary_table(path))
    for store_dir in sorted((path / "features").iterdir()):
        _print_store(FeatureStore(store_dir))
    if classes:
        _print_labels(read_labels(path / "labels.csv"), True)


def _print_store(store: FeatureStore) -> None:
    info = store.describe()
    table = Table(title=f"feature store {info['directory']}", show_header=False)
    frontend = ", ".join(f"{k}={v}" for k, v in info["frontend"].items())
    per_clip = info["frames_per_clip"]
    table.add_row("clips", str(info["clips"]))
    table.add_row(
        "frames",
        f"{info['frames']} ({per_clip['min']}–{per_clip['max']} per clip, mean {per_clip['mean']:.1f})",
    )
    table.add_row("frame size", f"{info['dim']} values, {info['frames_per_second']:.3g} frames/s")
    table.add_row("front-end", frontend)
    table.add_row("front-end hash", info["frontend_hash"])
    table.add_row("size", f"{info['bytes'] / 2**20:.1f} MiB float16")
    out.print(table)


def _print_labels(labels: Any, classes: bool) -> None:
    summary = labels.summary()
    table = Table(title="labels", show_header=False)
    _add_label_rows(table, summary.as_dict())
    table.add_row("positives per clip", f"{summary.label_density:.3f}")
    table.add_row("fraction missing", f"{summary.fraction_missing:.3f}")
    out.print(table)
    if classes:
        per_class = Table("class", "positives", "annotated", title="per class")
        for name in labels.class_names:
            per_class.add_row(
                name, str(summary.positives_per_class[name]), str(summary.annotated_per_class[name])
            )
        out.print(per_class)
