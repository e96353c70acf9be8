"""``earmark export`` (a model card beside it), ``earmark model-card`` and ``earmark ensemble``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from earmark.cli.app import app, console, out
from earmark.config import ConfigError


@app.command("export")
def export_command(
    run: Annotated[Path, typer.Option(help="a training run directory")],
    fmt: Annotated[str, typer.Option("--format", help="torchscript or onnx")] = "torchscript",
    out_path: Annotated[
        Path | None, typer.Option("--out", help="file to write (default: in the run)")
    ] = None,
) -> None:
    """Export a run's best model (outputs checked against the PyTorch model) with MODEL_CARD.md beside it."""
    from earmark.export import export_model
    from earmark.runs import load_run
    from earmark.training.card import CARD_FILE, write_model_card

    if fmt not in ("torchscript", "onnx"):
        raise ConfigError(f"--format must be torchscript or onnx, got {fmt!r}")
    loaded = load_run(run)
    suffix = ".pt" if fmt == "torchscript" else ".onnx"
    target = out_path or run / "export" / f"model{suffix}"
    worst = export_model(loaded.model, loaded.spec, target, fmt)  # type: ignore[arg-type]
    card = write_model_card(run, target.parent / CARD_FILE)
    out.print(f"wrote {target} ({fmt}); largest difference from the PyTorch model {worst:.1e}; card {card}")


@app.command("model-card")
def model_card_command(
    run: Annotated[Path, typer.Option(help="a training run directory")],
    out_path: Annotated[
        Path | None, typer.Option("--out", help="file to write (default: RUN/MODEL_CARD.md)")
    ] = None,
) -> None:
    """Write a run's MODEL_CARD.md again from its files (training writes one at the end of every run)."""
    from earmark.training.card import write_model_card

    out.print(f"wrote {write_model_card(run, out_path)}")


@app.command("ensemble")
def ensemble_command(
    predictions: Annotated[list[Path], typer.Argument(help="predictions files or run directories")],
    out_path: Annotated[Path, typer.Option("--out", help="the averaged predictions file")],
    split: Annotated[str, typer.Option(help="which split of a run directory")] = "test",
) -> None:
    """Average the scores of several runs on the same clips (e.g. an LH run and an X run)."""
    from earmark.ensemble import average_predictions
    from earmark.predictions import read_run_predictions

    if len(predictions) < 2:
        raise ConfigError("ensemble needs at least two predictions files or runs")
    loaded = [read_run_predictions(p, split=split) for p in predictions]
    averaged = average_predictions(loaded, names=[str(p) for p in predictions])
    averaged.write(out_path)
    console.print(f"averaged {len(loaded)} prediction sets of {averaged.num_clips} clips into {out_path}")
