"""Merging label tables and prepared directories, with an optional class alias map.

Label sets with different vocabularies merge over the union of their classes: an entry for a
class outside a set's vocabulary becomes *missing* (not a negative), which the missing-label
strategies understand. An alias map renames classes first (``Dog bark`` → ``dog``); two classes
of one set that become one name are combined (positive or annotated in either). Prepared
directories merge their label tables the same way and their feature stores split by split;
they must share the front-end (its hash), and a clip id in two sources is an error.

:func:`merge_shards_when_complete` lets every shard of a sharded ``prepare`` try the merge when
it finishes: under a lock, the last one to finish merges.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml

from earmark.data.labels import Labels
from earmark.data.manifest import read_manifest_csv
from earmark.data.table import read_labels, write_labels
from earmark.errors import EarmarkError
from earmark.features.store import FeatureStore, StoreError, merge_stores
from earmark.io import CsvWriter, atomic_open, escape_cells, write_text_atomic
from earmark.prepare import PrepareResult, merge_shards

__all__ = [
    "MergeError",
    "apply_aliases",
    "merge_label_tables",
    "merge_prepared",
    "merge_shards_when_complete",
    "read_aliases",
]


class MergeError(EarmarkError):
    """Sources that cannot be merged (other front-ends, a clip in two sources, a bad alias map)."""


def read_aliases(path: str | Path) -> dict[str, str]:
    """An alias map: ``alias → class``, from a two-column CSV (``alias,class``) or a YAML / JSON mapping."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
        header = bool(rows) and [c.strip().lower() for c in rows[0]] in (["alias", "class"], ["from", "to"])
        rows = rows[1:] if header else rows
        first_row = 2 if header else 1
        bad = [
            i
            for i, row in enumerate(rows, start=first_row)
            if len(row) != 2 or not all(c.strip() for c in row)
        ]
        if bad:
            raise MergeError(f"{path}: row {bad[0]} must be two non-empty cells: alias,class")
        pairs = [(row[0].strip(), row[1].strip()) for row in rows]
    else:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise MergeError(f"{path}: an alias map must map each alias to one class name")
        pairs = [(str(k), v) for k, v in data.items()]
    aliases: dict[str, str] = {}
    for alias, name in pairs:
        if aliases.get(alias, name) != name:
            raise MergeError(f"{path}: alias {alias!r} maps to both {aliases[alias]!r} and {name!r}")
        aliases[alias] = name
    chained = sorted(set(aliases) & set(aliases.values()) - {a for a, n in aliases.items() if a == n})
    if chained:
        raise MergeError(
            f"{path}: {chained[0]!r} is both an alias and a target; map every alias to its final class"
        )
    return aliases


def apply_aliases(labels: Labels, aliases: Mapping[str, str]) -> Labels:
    """``labels`` with classes renamed by ``aliases``; classes renamed alike are combined (OR)."""
    names = [aliases.get(name, name) for name in labels.class_names]
    merged = list(dict.fromkeys(names))
    if len(merged) == len(names):
        return dataclasses.replace(labels, class_names=tuple(names))
    positive = np.zeros((labels.num_clips, len(merged)), dtype=bool)
    annotated = np.zeros_like(positive)
    for source, target in enumerate(names):
        column = merged.index(target)
        positive[:, column] |= labels.positive[:, source]
        annotated[:, column] |= labels.annotated[:, source]
    return dataclasses.replace(labels, class_names=tuple(merged), positive=positive, annotated=annotated)


def _merge(parts: Sequence[Labels], names: Sequence[str], aliases: Mapping[str, str] | None) -> Labels:
    renamed = [apply_aliases(part, aliases or {}) for part in parts]
    seen: dict[str, str] = {}
    for name, part in zip(names, renamed, strict=True):
        for clip in part.clip_ids.tolist():
            if clip in seen:
                raise MergeError(f"clip {clip!r} is in both {seen[clip]} and {name}")
            seen[clip] = name
    return Labels.merge(*renamed)


def merge_label_tables(
    tables: Sequence[str | Path], out: str | Path, *, aliases: Mapping[str, str] | None = None
) -> Labels:
    """Merge label tables (any format :func:`read_labels` reads) into ``out``; returns the labels."""
    if len(tables) < 2:
        raise MergeError(f"merge needs at least two label tables, got {len(tables)}")
    merged = _merge([read_labels(t) for t in tables], [str(t) for t in tables], aliases)
    write_labels(merged, out)
    return merged


def merge_prepared(
    sources: Sequence[str | Path], out: str | Path, *, aliases: Mapping[str, str] | None = None
) -> Labels:
    """Merge prepared directories into ``out``: labels, manifest and a store per split name.

    Returns the merged labels; ``out/prepare.json`` names the sources.
    """
    if len(sources) < 2:
        raise MergeError(f"merge needs at least two prepared directories, got {len(sources)}")
    directories = [Path(s) for s in sources]
    out = Path(out)
    for directory in directories:
        if not (directory / "labels.csv").is_file() or not (directory / "features").is_dir():
            raise MergeError(f"{directory} is not a finished prepared directory (no labels.csv or features/)")
    hashes: dict[str, Path] = {}
    for directory in directories:
        for store in sorted(p for p in (directory / "features").iterdir() if (p / "store.json").exists()):
            hashes.setdefault(FeatureStore(store).frontend_hash, store)
    if len(hashes) > 1:
        first, second = list(hashes.values())[:2]
        raise MergeError(f"{first} and {second} were computed with other front-ends; prepare them alike")
    merged = _merge(
        [read_labels(d / "labels.csv") for d in directories], [str(d) for d in directories], aliases
    )
    splits: dict[str, list[Path]] = {}
    for directory in directories:
        for store in sorted((directory / "features").iterdir()):
            if (store / "store.json").exists():
                splits.setdefault(store.name, []).append(store)
    for split, parts in splits.items():
        try:
            merge_stores(parts, out / "features" / split)
        except StoreError as error:
            raise MergeError(f"split {split!r}: {error}") from error
    _write_manifest(directories, out / "manifest.csv")
    write_labels(merged, out / "labels.csv")
    summary = {
        "directory": str(out),
        "merged_from": [str(d) for d in directories],
        "aliases": dict(aliases or {}),
        "clips_per_split": {split: len(FeatureStore(out / "features" / split)) for split in splits},
        "skipped": 0,
        "finished": True,
        "edits": {},
        "seconds": 0.0,
        "labels": merged.summary().as_dict(),
        "frontend_hash": next(iter(hashes)),
    }
    write_text_atomic(out / "prepare.json", json.dumps(summary, indent=2, ensure_ascii=False))
    return merged


def _write_manifest(directories: Sequence[Path], path: Path) -> None:
    with atomic_open(path, "w", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(["clip_id", "split", "path"])
        for directory in directories:
            if (directory / "manifest.csv").is_file():
                for clip, (split, audio) in read_manifest_csv(directory / "manifest.csv").items():
                    writer.writerow(escape_cells([clip, split, audio]))


def merge_shards_when_complete(out: str | Path, *, wait_seconds: float = 600.0) -> PrepareResult | None:
    """Merge a sharded prepare once every shard is finished; None while some are not.

    Each shard calls this when it finishes; a lock file (``out/.merging``) lets one process at
    a time look, so the last shard to finish merges and the others return None. A lock older
    than ``wait_seconds`` (a killed merge) raises, saying to run ``earmark merge-shards``.
    """
    out = Path(out)
    lock = out / ".merging"
    waited = 0.0
    while True:
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            if waited >= wait_seconds:
                raise MergeError(
                    f"{lock} has been held for {wait_seconds:.0f} s; if no merge is running, remove it "
                    f"and run `earmark merge-shards --out {out}`"
                ) from None
            time.sleep(0.2)
            waited += 0.2
    try:
        os.close(descriptor)
        for split_dir in sorted((out / "features").iterdir()):
            shards = sorted(split_dir.glob("shard-*-of-*"))
            if shards and len([s for s in shards if (s / "store.json").exists()]) != int(
                shards[0].name.rsplit("-", 1)[1]
            ):
                return None
        return merge_shards(out)
    finally:
        lock.unlink(missing_ok=True)
