"""ESC-50: a flat audio folder and the official metadata CSV.

The metadata has one row per clip: ``filename,fold,target,category,esc10,src_file,take``. The
vocabulary is every category of the metadata, ordered by ``target`` (0..49), even when audio is
present for only some clips. Clip ids are file stems (``1-100032-A-0``); the fold comes from the
``fold`` column. Labels are single-label and complete: every other class is an explicit negative.

Audio is found by stem with any audio suffix, the one the metadata names first: a copy converted
to FLAC matches rows that say ``.wav``. With ``on_missing_audio="skip"`` rows whose audio is absent
are left out (the number is logged at INFO level on the ``earmark.data.loaders`` logger, and is
simply the metadata's row count minus the manifest's clip count).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from earmark.data.labels import LabelError, Labels
from earmark.data.loaders._common import audio_suffixes, logger, parse_int, read_csv_rows
from earmark.data.loaders.base import find_file, register_loader
from earmark.data.manifest import Manifest

__all__ = ["ESC50_COLUMNS", "Esc50Options", "load_esc50"]

ESC50_COLUMNS = ("filename", "fold", "target", "category", "esc10")


@dataclasses.dataclass(frozen=True)
class Esc50Options:
    """Options of the ESC-50 loader.

    Attributes
    ----------
    root : the folder holding the audio files (flat).
    metadata : the ``esc50.csv`` metadata file.
    on_missing_audio : ``"skip"`` leaves out rows whose audio is absent; ``"error"`` raises.
    esc10_only : keep only the ESC-10 rows (``esc10 == True``); the vocabulary is then their
        10 categories.
    source : the source every clip gets.
    split : the feature-store split every clip goes to.

    """

    root: str
    metadata: str
    on_missing_audio: Literal["skip", "error"] = "skip"
    esc10_only: bool = False
    source: Literal["curated", "noisy", "unlabeled"] = "curated"
    split: str = "all"


@dataclasses.dataclass(frozen=True)
class _Row:
    line: int
    stem: str
    suffix: str
    fold: int
    target: int
    category: str
    esc10: bool


def _parse_rows(path: Path) -> list[_Row]:
    _, rows = read_csv_rows(path, ESC50_COLUMNS, what="ESC-50 metadata")
    parsed: list[_Row] = []
    for line, cells in rows:
        esc10 = cells["esc10"].lower()
        if esc10 not in ("true", "false"):
            raise LabelError(f"{path}, line {line}: column 'esc10' holds {cells['esc10']!r}, not True/False")
        name = Path(cells["filename"])
        if not name.stem:
            raise LabelError(f"{path}, line {line}: empty filename")
        parsed.append(
            _Row(
                line=line,
                stem=name.stem,
                suffix=name.suffix,
                fold=parse_int(cells["fold"], path=path, line=line, column="fold"),
                target=parse_int(cells["target"], path=path, line=line, column="target"),
                category=cells["category"],
                esc10=esc10 == "true",
            )
        )
    if not parsed:
        raise LabelError(f"{path}: ESC-50 metadata has no rows")
    return parsed


def _vocabulary(rows: list[_Row], path: Path) -> list[str]:
    """Categories ordered by target; a target with two categories (or the reverse) raises."""
    by_target: dict[int, str] = {}
    for row in rows:
        known = by_target.setdefault(row.target, row.category)
        if known != row.category:
            raise LabelError(
                f"{path}, line {row.line}: target {row.target} is {row.category!r} here but "
                f"{known!r} earlier; each target must name one category"
            )
    names = [by_target[t] for t in sorted(by_target)]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise LabelError(f"{path}: category {twice[0]!r} has more than one target")
    return names


@register_loader("esc50", Esc50Options)
def load_esc50(options: Esc50Options) -> Manifest:
    """ESC-50 metadata CSV plus a flat audio folder; single-label, 5 folds."""
    metadata = Path(options.metadata).expanduser()
    root = Path(options.root).expanduser()
    if not root.is_dir():
        raise LabelError(f"esc50 layout: audio root {root} is not a directory")
    rows = _parse_rows(metadata)
    if options.esc10_only:
        rows = [r for r in rows if r.esc10]
        if not rows:
            raise LabelError(f"{metadata}: no row has esc10 == True")
    class_names = _vocabulary(rows, metadata)
    seen: dict[str, int] = {}
    kept: list[tuple[_Row, Path]] = []
    absent: list[_Row] = []
    for row in rows:
        if row.stem in seen:
            raise LabelError(
                f"{metadata}, line {row.line}: clip {row.stem!r} is listed twice "
                f"(first on line {seen[row.stem]})"
            )
        seen[row.stem] = row.line
        path = find_file(root, row.stem, audio_suffixes(row.suffix))
        if path is None:
            absent.append(row)
        else:
            kept.append((row, path.resolve()))
    if absent and options.on_missing_audio == "error":
        raise LabelError(
            f"esc50 layout: no audio for clip {absent[0].stem!r} (line {absent[0].line} of "
            f"{metadata}) in {root}; {len(absent)} of {len(rows)} rows have no audio. "
            'Set on_missing_audio: "skip" to leave them out.'
        )
    if not kept:
        raise LabelError(f"esc50 layout: none of the {len(rows)} clips of {metadata} has audio in {root}")
    if absent:
        logger.info(
            "esc50: %d of %d metadata rows have no audio in %s and were skipped",
            len(absent),
            len(rows),
            root,
        )
    labels = Labels.from_lists(
        [row.stem for row, _ in kept],
        [[row.category] for row, _ in kept],
        class_names,
        source=options.source,
        fold=[row.fold for row, _ in kept],
    )
    return Manifest.single_split(labels, [p for _, p in kept], split=options.split, name="esc50")
