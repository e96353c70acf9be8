"""``earmark predict``: top-k tags for audio files of any length, from a trained run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from earmark.cli.app import app, console, out
from earmark.config import ConfigError, Range, check_options
from earmark.features.audio import AUDIO_SUFFIXES, AudioError
from earmark.features.frontend import build_frontend
from earmark.io import CsvWriter, atomic_open, escape_cell, write_text_atomic


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


@app.command("predict")
def predict_command(
    paths: Annotated[list[Path], typer.Argument(help="audio files or folders")],
    run: Annotated[Path, typer.Option(help="a training run directory")],
    out_path: Annotated[Path | None, typer.Option("--out", help="tags.csv or tags.json")] = None,
    top_k: Annotated[int, typer.Option(help="tags per file")] = 5,
    on_error: Annotated[str, typer.Option(help="raise or skip files that cannot be decoded")] = "raise",
) -> None:
    """Tag audio files with a trained run's best model (streaming: any length, bounded memory)."""
    check_options(("--top-k", top_k, Range(ge=1, le=100_000)))
    from earmark.runs import load_run
    from earmark.streaming import tag_file

    if on_error not in ("raise", "skip"):
        raise ConfigError(f"--on-error must be raise or skip, got {on_error!r}")
    if out_path is not None and out_path.suffix not in (".csv", ".json"):
        raise ConfigError(f"--out must end in .csv or .json, got {out_path}")
    loaded = load_run(run)
    frontend = build_frontend(loaded.spec.frontend)
    results: list[dict[str, Any]] = []
    for path in _audio_files(paths):
        try:
            scores = tag_file(path, frontend, loaded.model, loaded.segmenting)
        except AudioError as error:
            if on_error == "raise":
                raise
            console.print(f"skipped {path}: {error.reason}")
            continue
        order = np.argsort(-scores, kind="stable")[:top_k]
        tags = [{"tag": loaded.spec.class_names[i], "score": round(float(scores[i]), 6)} for i in order]
        results.append({"path": str(path), "tags": tags})
        out.print(f"{path}: " + ", ".join(f"{t['tag']} {t['score']:.3f}" for t in tags), highlight=False)
    if out_path is None:
        return
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix == ".json":
        write_text_atomic(out_path, json.dumps(results, indent=2, ensure_ascii=False))
    else:
        with atomic_open(out_path, "w", newline="") as handle:
            writer = CsvWriter(handle)
            writer.writerow(["path", "rank", "tag", "score"])
            for row in results:
                for rank, tag in enumerate(row["tags"], start=1):
                    writer.writerow([escape_cell(row["path"]), rank, escape_cell(tag["tag"]), tag["score"]])
    console.print(f"wrote {len(results)} files' tags to {out_path}")
