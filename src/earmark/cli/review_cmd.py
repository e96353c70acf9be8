"""``earmark review``: the label review page of an audit, static or served on 127.0.0.1."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from earmark.cli.app import app, console, out
from earmark.config import ConfigError, Range, check_options

if TYPE_CHECKING:
    from earmark.review import ReviewServer


def _default_who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


@app.command("review")
def review_command(
    audit: Annotated[Path, typer.Argument(help="an audit CSV (earmark audit missing / noisy)")],
    store: Annotated[Path, typer.Option("--store", help="the prepared directory the audit is about")],
    out_dir: Annotated[Path, typer.Option("--out", help="folder to write the page into")],
    audio_root: Annotated[
        Path | None,
        typer.Option(
            "--audio-root", help="folder the manifest's audio paths are under (if moved or relative)"
        ),
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="serve the page on 127.0.0.1, saving decisions")
    ] = False,
    edits: Annotated[
        Path | None,
        typer.Option("--edits", help="label-edits file decisions go to (default: OUT/label-edits.csv)"),
    ] = None,
    port: Annotated[int, typer.Option(help="port of --serve (0: any free port)")] = 8765,
    limit: Annotated[int | None, typer.Option(help="at most this many cards, the most suspicious")] = None,
    who: Annotated[str | None, typer.Option(help="reviewer name written into the edits")] = None,
    audio_format: Annotated[str, typer.Option(help="snippet format: ogg or wav")] = "ogg",
    max_seconds: Annotated[float, typer.Option(help="longest audio snippet, seconds")] = 10.0,
) -> None:
    """Build a page to listen to, look at and decide on an audit's flagged items."""
    check_options(("--port", port, Range(ge=0, le=65_535)))
    if audio_format not in ("ogg", "wav"):
        raise ConfigError(f"--audio-format must be ogg or wav, got {audio_format!r}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if not 0.5 <= max_seconds <= 60:
        raise ConfigError(f"--max-seconds must be between 0.5 and 60, got {max_seconds}")
    from earmark.review import build_review, serve_review

    edits_path = edits or out_dir / "label-edits.csv"
    page = build_review(
        audit,
        store,
        out_dir,
        audio_root=audio_root,
        limit=limit,
        edits_path=edits_path,
        who=_default_who() if who is None else who,
        max_seconds=max_seconds,
        audio_format="ogg" if audio_format == "ogg" else "wav",
    )
    out.print(
        f"review page: {page.html} ({page.num_items} cards, {page.num_clips} clips)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for note in page.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    if not serve:
        out.print(
            "open it in a browser; decisions stay in the browser, 'Download edits' exports them "
            f"(or rerun with --serve to write them into {edits_path})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return

    def ready(server: ReviewServer) -> None:
        out.print(
            f"serving {server.url} (decisions go to {edits_path}); Ctrl-C stops",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    serve_review(out_dir, edits_path, port=port, ready=ready)
