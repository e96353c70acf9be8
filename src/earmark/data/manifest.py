"""The manifest every loader produces: labels, where each clip's audio is, and its split.

A :class:`Manifest` pairs :class:`~earmark.data.labels.Labels` with, per clip, the path of its
audio file and the name of the feature-store split it goes to (``train``, ``test``, ``curated``,
``noisy``…). Data sets that ship features instead of audio (OpenMIC, AudioSet embeddings) give a
:class:`PrecomputedFrames` instead of paths, and their frames go straight into the store.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from earmark.data.labels import LabelError, Labels
from earmark.features.embeddings import PrecomputedConfig
from earmark.io import CsvWriter, atomic_open, escape_cells, unescape_cell

__all__ = ["Manifest", "PrecomputedFrames", "read_manifest_csv", "write_manifest_csv"]


@dataclasses.dataclass(frozen=True)
class PrecomputedFrames:
    """Frames that come with a data set: ``frames(i)`` gives clip ``i``'s ``(num_frames, dim)``."""

    config: PrecomputedConfig
    frames: Callable[[int], np.ndarray]


@dataclasses.dataclass(frozen=True, eq=False)
class Manifest:
    """Labels plus, per clip, an audio path (``""`` when features are precomputed) and a split."""

    labels: Labels
    audio_paths: np.ndarray
    splits: np.ndarray
    precomputed: PrecomputedFrames | None = None
    name: str = "dataset"

    def __post_init__(self) -> None:
        n = self.labels.num_clips
        object.__setattr__(self, "audio_paths", np.array([str(p) for p in self.audio_paths], dtype=object))
        object.__setattr__(self, "splits", np.array([str(s) for s in self.splits], dtype=object))
        if self.audio_paths.shape != (n,) or self.splits.shape != (n,):
            raise LabelError(
                f"manifest has {n} clips but {len(self.audio_paths)} paths and {len(self.splits)} splits"
            )
        if self.precomputed is None and any(p == "" for p in self.audio_paths):
            missing = self.labels.clip_ids[self.audio_paths == ""][0]
            raise LabelError(f"clip {missing!r} has no audio path and no precomputed frames")

    @classmethod
    def single_split(
        cls,
        labels: Labels,
        audio_paths: Sequence[str | Path],
        split: str = "all",
        name: str = "dataset",
    ) -> Manifest:
        """A manifest whose clips all go to one split."""
        return cls(
            labels=labels,
            audio_paths=np.array([str(p) for p in audio_paths], dtype=object),
            splits=np.array([split] * labels.num_clips, dtype=object),
            name=name,
        )

    @property
    def split_names(self) -> list[str]:
        """Split names in order of first appearance."""
        return list(dict.fromkeys(self.splits.tolist()))

    def rows_of_split(self, split: str) -> np.ndarray:
        """Integer positions of the clips in ``split``."""
        return np.flatnonzero(self.splits == split)

    def take(self, rows: np.ndarray) -> Manifest:
        """The clips at positions ``rows`` (precomputed frames stay addressed by old positions)."""
        rows = np.asarray(rows, dtype=np.int64)
        precomputed = self.precomputed
        if precomputed is not None:
            source = precomputed.frames
            precomputed = PrecomputedFrames(precomputed.config, lambda i: source(int(rows[i])))
        return dataclasses.replace(
            self,
            labels=self.labels.take(rows),
            audio_paths=self.audio_paths[rows],
            splits=self.splits[rows],
            precomputed=precomputed,
        )

    def check_files(self) -> list[tuple[str, str]]:
        """``(clip_id, path)`` of every clip whose audio file does not exist."""
        if self.precomputed is not None:
            return []
        return [
            (str(c), str(p))
            for c, p in zip(self.labels.clip_ids, self.audio_paths, strict=True)
            if not os.path.isfile(p)
        ]


def write_manifest_csv(manifest: Manifest, path: str | Path) -> Path:
    """Write ``clip_id, split, path`` rows (the labels go to their own table).

    Every cell is text, written spreadsheet-safe (:func:`~earmark.io.escape_cell`).
    """
    path = Path(path)
    rows = zip(manifest.labels.clip_ids, manifest.splits, manifest.audio_paths, strict=True)
    with atomic_open(path, "w", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(["clip_id", "split", "path"])
        writer.writerows(escape_cells(row) for row in rows)
    return path


def read_manifest_csv(path: str | Path) -> dict[str, tuple[str, str]]:
    """``clip_id -> (split, path)`` from a file written by :func:`write_manifest_csv`.

    Cells are unescaped (:func:`~earmark.io.unescape_cell`); a byte-order mark is accepted.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"manifest not found: {path}")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and set(rows[0]) != {"clip_id", "split", "path"}:
        raise LabelError(f"{path}: expected columns clip_id, split, path")
    return {unescape_cell(r["clip_id"]): (unescape_cell(r["split"]), unescape_cell(r["path"])) for r in rows}
