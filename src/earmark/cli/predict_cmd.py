"""``earmark predict``: tags, timelines and events for audio files of any length, from trained runs."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer

from earmark.cli.app import app, console, out
from earmark.config import NON_NEGATIVE, ConfigError, Range, check_options
from earmark.features.audio import AUDIO_SUFFIXES, AudioError
from earmark.io import CsvWriter, atomic_open, escape_cell, write_text_atomic

if TYPE_CHECKING:
    from earmark.api import Tagger, Tags
    from earmark.events import Event


def _audio_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise AudioError(path, "file does not exist")
    if not files:
        raise ConfigError(f"no audio files found in {', '.join(map(str, paths))}")
    return files


@contextlib.contextmanager
def _csv(path: Path | None, header: list[str]) -> Iterator[CsvWriter | None]:
    """A CSV written row by row into a temporary file, renamed into place at the end."""
    if path is None:
        yield None
        return
    if path.suffix != ".csv":
        raise ConfigError(f"{path} must end in .csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(header)
        yield writer


class _FileScan:
    """One file's streaming pass: timeline rows, events and (for --plot) the kept segments."""

    def __init__(
        self,
        tagger: Tagger,
        path: Path,
        *,
        timeline: CsvWriter | None,
        events: CsvWriter | None,
        keep: bool,
        min_duration_seconds: float,
        min_gap_seconds: float,
    ) -> None:
        from earmark.events import CellTiler, EventTracker

        self.tagger, self.path, self.timeline_writer, self.events_writer = tagger, path, timeline, events
        self.tiler = CellTiler()
        self.tracker = EventTracker(
            tagger.classes,
            tagger.thresholds,
            min_duration_seconds=min_duration_seconds,
            min_gap_seconds=min_gap_seconds,
        )
        self.kept: list[tuple[float, float, np.ndarray]] | None = [] if keep else None
        self.found: list[Event] = []

    def on_segment(self, start: float, end: float, scores: np.ndarray) -> None:
        if self.timeline_writer is not None:
            where = escape_cell(str(self.path))
            for name, score in zip(self.tagger.classes, scores.tolist(), strict=True):
                self.timeline_writer.writerow(
                    [where, f"{start:.3f}", f"{end:.3f}", escape_cell(name), round(score, 6)]
                )
        if self.kept is not None:
            self.kept.append((start, end, scores))
        for cell in self.tiler.add(start, end, scores):
            self._events(self.tracker.add(cell))

    def finish(self, duration_seconds: float) -> None:
        for cell in self.tiler.finish(duration_seconds):
            self._events(self.tracker.add(cell))
        self._events(self.tracker.finish())

    def _events(self, events: list[Event]) -> None:
        self.found.extend(events)
        if self.events_writer is None:
            return
        for event in events:
            self.events_writer.writerow(
                [
                    escape_cell(str(self.path)),
                    f"{event.onset_seconds:.3f}",
                    f"{event.offset_seconds:.3f}",
                    escape_cell(event.label),
                    round(event.peak_score, 6),
                ]
            )


def _tag_row(path: Path, tags: Tags, top_k: int, with_present: bool) -> dict[str, Any]:
    top = [{"tag": name, "score": round(score, 6)} for name, score in tags.top(top_k)]
    row: dict[str, Any] = {"path": str(path), "tags": top}
    if with_present:
        row["present"] = list(tags.present)
    return row


def _write_tags(out_path: Path, results: list[dict[str, Any]], with_present: bool) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix == ".json":
        write_text_atomic(out_path, json.dumps(results, indent=2, ensure_ascii=False))
        return
    with atomic_open(out_path, "w", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(["path", "rank", "tag", "score", *(["present"] if with_present else [])])
        for row in results:
            present = set(row.get("present", ()))
            for rank, tag in enumerate(row["tags"], start=1):
                cells = [escape_cell(row["path"]), rank, escape_cell(tag["tag"]), tag["score"]]
                writer.writerow(cells + ([int(tag["tag"] in present)] if with_present else []))


@app.command("predict")
def predict_command(
    paths: Annotated[list[Path], typer.Argument(help="audio files or folders")],
    run: Annotated[
        list[Path],
        typer.Option(help="a training run, or a cross-validation directory; repeat to average several runs"),
    ],
    out_path: Annotated[Path | None, typer.Option("--out", help="tags.csv or tags.json")] = None,
    top_k: Annotated[int, typer.Option(help="tags per file")] = 5,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="one decision threshold for every class (default: the run's thresholds.json, else 0.5)"
        ),
    ] = None,
    timeline: Annotated[
        Path | None, typer.Option(help="write per-segment scores (path,start,end,class,score) to this CSV")
    ] = None,
    events: Annotated[
        Path | None, typer.Option(help="write thresholded, merged events (onset, offset, class) to this CSV")
    ] = None,
    min_duration: Annotated[float, typer.Option(help="drop events shorter than this (seconds)")] = 0.0,
    min_gap: Annotated[
        float, typer.Option(help="merge events of a class at most this far apart (seconds)")
    ] = 0.0,
    plot: Annotated[Path | None, typer.Option(help="draw the timeline of the one file given (PNG)")] = None,
    on_error: Annotated[str, typer.Option(help="raise or skip files that cannot be decoded")] = "raise",
) -> None:
    """Tag audio files with trained runs (streaming: any length, bounded memory).

    Several runs (or a cross-validation directory) are averaged.

    --timeline, --events and --plot also score each file segment by segment over its length.
    """
    check_options(
        ("--top-k", top_k, Range(ge=1, le=100_000)),
        ("--min-duration", min_duration, NON_NEGATIVE),
        ("--min-gap", min_gap, NON_NEGATIVE),
    )
    if threshold is not None:
        check_options(("--threshold", threshold, Range(ge=0, le=1)))
    from earmark.api import load_run
    from earmark.thresholds import run_thresholds

    if on_error not in ("raise", "skip"):
        raise ConfigError(f"--on-error must be raise or skip, got {on_error!r}")
    if out_path is not None and out_path.suffix not in (".csv", ".json"):
        raise ConfigError(f"--out must end in .csv or .json, got {out_path}")
    files = _audio_files(paths)
    if plot is not None and len(files) != 1:
        raise ConfigError(f"--plot draws one file's timeline; {len(files)} files were given")
    tagger = load_run(run, thresholds=threshold)
    tuned = len(tagger.runs) == 1 and run_thresholds(tagger.runs[0].directory) is not None
    with_present = threshold is not None or tuned
    if len(tagger.runs) > 1:
        console.print(
            f"averaging {len(tagger.runs)} runs: {', '.join(str(r.directory) for r in tagger.runs)}"
        )
    scanning = timeline is not None or events is not None or plot is not None
    results: list[dict[str, Any]] = []
    with (
        _csv(timeline, ["path", "start_seconds", "end_seconds", "class", "score"]) as timeline_writer,
        _csv(events, ["path", "onset_seconds", "offset_seconds", "class", "peak_score"]) as events_writer,
    ):
        for path in files:
            try:
                if scanning:
                    scan = _FileScan(
                        tagger,
                        path,
                        timeline=timeline_writer,
                        events=events_writer,
                        keep=plot is not None,
                        min_duration_seconds=min_duration,
                        min_gap_seconds=min_gap,
                    )
                    tags, duration = tagger.scan(path, scan.on_segment)
                    scan.finish(duration)
                else:
                    tags = tagger.predict(path)
            except AudioError as error:
                if on_error == "raise":
                    raise
                console.print(f"skipped {path}: {error.reason}")
                continue
            row = _tag_row(path, tags, top_k, with_present)
            results.append(row)
            shown = ", ".join(f"{t['tag']} {t['score']:.3f}" for t in row["tags"])
            out.print(f"{path}: {shown}", highlight=False)
            if scanning:
                console.print(f"  {len(scan.found)} events", highlight=False)
            if plot is not None and scan.kept:
                _plot(tagger, path, scan, duration, plot)
    if out_path is not None:
        _write_tags(out_path, results, with_present)
        console.print(f"wrote {len(results)} files' tags to {out_path}")
    for what, target in (("timeline", timeline), ("events", events)):
        if target is not None:
            console.print(f"wrote the {what} to {target}")


def _plot(tagger: Tagger, path: Path, scan: _FileScan, duration: float, target: Path) -> None:
    from earmark.timeline import Timeline, plot_timeline

    kept = scan.kept or []
    whole = Timeline(
        tagger.classes,
        np.array([k[0] for k in kept]),
        np.array([k[1] for k in kept]),
        np.stack([k[2] for k in kept]),
        duration,
    )
    plot_timeline(whole, target, events=scan.found, title=path.name)
    console.print(f"drew the timeline to {target}")
