"""The feature store: all frames of one split in a memory-mapped float16 array, plus an index.

Layout of a finished store directory::

    frames.f16    raw float16, shape (total_frames, dim), C order
    index.npz     clip_ids (str), offsets (int64), num_frames (int64)
    store.json    format version, front-end config and hash, dim, counts  (written last)

A store is complete exactly when ``store.json`` exists. While it is written, frames go to
``frames.f16.partial`` and every finished clip is appended to ``progress.jsonl`` *after* its
frames are written, so a killed writer loses at most the clip it was writing: reopening the
directory truncates the partial file to the last recorded clip and carries on. Both files are
forced to the disk every few seconds; after a machine crash, clips the log names but whose
frames did not reach the disk are dropped from the log and written again. Clips that were
skipped (bad audio with ``on_error="skip"``) are recorded too and not retried.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from earmark.errors import EarmarkError
from earmark.features.frontend import (
    FrontendConfig,
    build_frontend,
    config_hash,
    frontend_config_from_dict,
    frontend_config_to_dict,
)
from earmark.io import atomic_open, write_text_atomic

__all__ = ["FeatureStore", "StoreError", "StoreWriter", "merge_stores"]

FORMAT_VERSION = 1
SYNC_SECONDS = 5.0  # how often finished frames are forced to the disk while writing
_DTYPE = np.dtype("<f2")
_FRAMES, _PARTIAL, _INDEX, _META, _PROGRESS, _WRITER = (
    "frames.f16",
    "frames.f16.partial",
    "index.npz",
    "store.json",
    "progress.jsonl",
    "writer.json",
)


class StoreError(EarmarkError):
    """A feature store is absent, incomplete, inconsistent or from another front-end."""


class StoreWriter:
    """Streams clips' frames into a store directory; resumable, finalised atomically.

    Parameters
    ----------
    directory
        The store directory (created when absent).
    frontend
        The front-end config of every frame written. Reopening a directory that was started
        with another config raises :class:`StoreError`.
    dim
        Values per frame.

    """

    def __init__(self, directory: str | Path, frontend: FrontendConfig, dim: int) -> None:
        self.directory = Path(directory)
        self.frontend = frontend
        self.dim = int(dim)
        if (self.directory / _META).exists():
            raise StoreError(f"{self.directory} is already a finished store; remove it to rebuild")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._check_or_write_header()
        self._recover_partial_rename()
        self.clip_ids: list[str] = []
        self.offsets: list[int] = []
        self.num_frames: list[int] = []
        self.durations: list[float] = []
        self.skipped: dict[str, str] = {}
        self._total = self._load_progress()
        self._frames = open(self.directory / _PARTIAL, "ab")  # noqa: SIM115
        self._progress = open(self.directory / _PROGRESS, "a", encoding="utf-8")  # noqa: SIM115
        self._synced = time.monotonic()

    # ------------------------------------------------------------------ state
    def _check_or_write_header(self) -> None:
        header = {"frontend": frontend_config_to_dict(self.frontend), "dim": self.dim}
        path = self.directory / _WRITER
        if path.exists():
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored != header:
                raise StoreError(
                    f"{self.directory} was started with another front-end or dim "
                    f"({stored}); remove it or prepare into another directory"
                )
        else:
            write_text_atomic(path, json.dumps(header, indent=2))

    def _recover_partial_rename(self) -> None:
        # A kill between renaming the frames and writing store.json leaves frames.f16 alone.
        frames, partial = self.directory / _FRAMES, self.directory / _PARTIAL
        if frames.exists() and not partial.exists():
            os.replace(frames, partial)

    def _load_progress(self) -> int:
        """Read the progress log; keep only clips whose frames are wholly in the partial file.

        A kill cuts at most the last log line and the frames of the clip being written; a
        machine crash between periodic syncs can lose frames the log already names. Either way
        the clips not wholly on disk are dropped from the log and written again.
        """
        path = self.directory / _PROGRESS
        partial = self.directory / _PARTIAL
        available = partial.stat().st_size // (self.dim * _DTYPE.itemsize) if partial.exists() else 0
        total = 0
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            good: list[str] = []
            for line in lines:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    break  # a line cut short by a kill: everything after it is discarded
                if "skipped" in entry:
                    self.skipped[entry["clip_id"]] = entry["skipped"]
                else:
                    end = int(entry["offset"]) + int(entry["num_frames"])
                    if end > available:
                        break  # its frames did not reach the disk
                    self.clip_ids.append(entry["clip_id"])
                    self.offsets.append(int(entry["offset"]))
                    self.num_frames.append(int(entry["num_frames"]))
                    self.durations.append(float(entry.get("duration_seconds", "nan")))
                    total = end
                good.append(line)
            if len(good) != len(lines):
                path.write_text("".join(g + "\n" for g in good), encoding="utf-8")
        if partial.exists() and partial.stat().st_size > total * self.dim * _DTYPE.itemsize:
            with open(partial, "r+b") as handle:  # drop the frames of an unfinished clip
                handle.truncate(total * self.dim * _DTYPE.itemsize)
        return total

    @property
    def done(self) -> set[str]:
        """Clip ids already written or skipped."""
        return set(self.clip_ids) | set(self.skipped)

    # ------------------------------------------------------------------ writing
    def append(self, items: Iterable[tuple[str, np.ndarray, float]]) -> None:
        """Write ``(clip_id, frames (num_frames, dim), duration_seconds)``, then record them done."""
        entries: list[dict[str, Any]] = []
        for clip_id, frames, duration in items:
            frames = np.asarray(frames)
            if frames.ndim != 2 or frames.shape[1] != self.dim:
                raise StoreError(
                    f"clip {clip_id!r}: frames of shape {frames.shape}, expected (n, {self.dim})"
                )
            if frames.shape[0] == 0:
                raise StoreError(f"clip {clip_id!r}: no frames (the audio is shorter than one frame)")
            if not np.isfinite(frames).all():
                raise StoreError(f"clip {clip_id!r}: frames hold NaN or infinite values")
            self._frames.write(np.ascontiguousarray(frames, dtype=_DTYPE).tobytes())
            entries.append(
                {
                    "clip_id": str(clip_id),
                    "offset": self._total,
                    "num_frames": int(frames.shape[0]),
                    "duration_seconds": float(duration),
                }
            )
            self._total += int(frames.shape[0])
        if not entries:
            return
        self._frames.flush()  # in the OS's hands now: a killed process loses nothing written
        self._sync(force=False)
        for entry in entries:
            self.clip_ids.append(str(entry["clip_id"]))
            self.offsets.append(int(entry["offset"]))
            self.num_frames.append(int(entry["num_frames"]))
            self.durations.append(float(entry["duration_seconds"]))
        self._log(entries)

    def skip(self, clip_id: str, reason: str) -> None:
        """Record that ``clip_id`` was skipped for ``reason`` (it is not retried on resume)."""
        self.skipped[str(clip_id)] = reason
        self._log([{"clip_id": str(clip_id), "skipped": reason}])

    def _log(self, entries: Sequence[dict[str, Any]]) -> None:
        self._progress.write("".join(json.dumps(e) + "\n" for e in entries))
        self._progress.flush()

    def _sync(self, *, force: bool) -> None:
        """Fsync frames then log, at most every ``SYNC_SECONDS`` (a machine crash loses no more)."""
        now = time.monotonic()
        if force or now - self._synced >= SYNC_SECONDS:
            os.fsync(self._frames.fileno())
            os.fsync(self._progress.fileno())
            self._synced = now

    def close(self) -> None:
        """Close the files without finalising (the store stays resumable)."""
        if self._frames.closed:
            return
        self._frames.flush()
        self._progress.flush()
        self._sync(force=True)
        self._frames.close()
        self._progress.close()

    def finalize(self, order: Sequence[str] | None = None) -> FeatureStore:
        """Write the index and ``store.json``; returns the finished store.

        ``order`` lists clip ids in the order the index should hold them (frames stay where
        they are); by default the order they were written.
        """
        self.close()
        ids = np.array(self.clip_ids, dtype=str)
        offsets = np.array(self.offsets, dtype=np.int64)
        counts = np.array(self.num_frames, dtype=np.int64)
        durations = np.array(self.durations, dtype=np.float64)
        if order is not None:
            position = {c: i for i, c in enumerate(self.clip_ids)}
            rows = np.array([position[c] for c in order if c in position], dtype=np.int64)
            ids, offsets, counts, durations = (
                ids[rows],
                offsets[rows],
                counts[rows],
                durations[rows],
            )
        with atomic_open(self.directory / _INDEX, "wb") as handle:
            np.savez(handle, clip_ids=ids, offsets=offsets, num_frames=counts, duration_seconds=durations)
        os.replace(self.directory / _PARTIAL, self.directory / _FRAMES)
        meta = {
            "format_version": FORMAT_VERSION,
            "frontend": frontend_config_to_dict(self.frontend),
            "frontend_hash": config_hash(self.frontend),
            "dim": self.dim,
            "dtype": "float16",
            "frames_per_second": build_frontend(self.frontend).frames_per_second,
            "num_clips": len(ids),
            "num_frames": self._total,
            "skipped": self.skipped,
        }
        write_text_atomic(self.directory / _META, json.dumps(meta, indent=2))
        for name in (_PROGRESS, _WRITER):
            (self.directory / name).unlink(missing_ok=True)
        return FeatureStore(self.directory)


class FeatureStore:
    """A finished store, read through a memory map: ``store[clip_id]`` is ``(frames, dim)``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        meta_path = self.directory / _META
        if not meta_path.exists():
            hint = (
                " (its prepare was interrupted; run it again to finish)"
                if (self.directory / _PROGRESS).exists()
                else ""
            )
            raise StoreError(f"{self.directory} is not a finished feature store{hint}")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        if self.meta.get("format_version") != FORMAT_VERSION:
            raise StoreError(
                f"{self.directory}: store format {self.meta.get('format_version')} is not {FORMAT_VERSION}"
            )
        self.frontend = frontend_config_from_dict(self.meta["frontend"])
        if config_hash(self.frontend) != self.meta["frontend_hash"]:
            raise StoreError(f"{self.directory}: store.json's front-end hash does not match its config")
        with np.load(self.directory / _INDEX, allow_pickle=False) as index:
            self.clip_ids: np.ndarray = index["clip_ids"].astype(object)
            self.offsets: np.ndarray = index["offsets"]
            self.num_frames: np.ndarray = index["num_frames"]
            self.duration_seconds: np.ndarray = index["duration_seconds"]
        self.dim = int(self.meta["dim"])
        total = int(self.meta["num_frames"])
        expected = total * self.dim * _DTYPE.itemsize
        actual = (self.directory / _FRAMES).stat().st_size
        if actual != expected:
            raise StoreError(f"{self.directory / _FRAMES} holds {actual} bytes, store.json says {expected}")
        # a plain ndarray view of the memory map: slices of it skip np.memmap's per-slice
        # bookkeeping, which was most of the cost of reading a short clip
        self.frames: np.ndarray = (
            np.asarray(np.memmap(self.directory / _FRAMES, dtype=_DTYPE, mode="r", shape=(total, self.dim)))
            if total
            else np.zeros((0, self.dim), dtype=_DTYPE)
        )
        self._position = {c: i for i, c in enumerate(self.clip_ids.tolist())}

    @property
    def frontend_hash(self) -> str:
        """Hash of the front-end config the frames were computed with."""
        return str(self.meta["frontend_hash"])

    @property
    def skipped(self) -> dict[str, str]:
        """Clip id → reason, for clips skipped while preparing."""
        return dict(self.meta.get("skipped", {}))

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __contains__(self, clip_id: object) -> bool:
        return clip_id in self._position

    def position(self, clip_id: str) -> int:
        """Row of ``clip_id`` in the index; an unknown clip raises naming it."""
        try:
            return self._position[clip_id]
        except KeyError:
            raise StoreError(f"clip {clip_id!r} is not in the store {self.directory}") from None

    def __getitem__(self, clip_id: str) -> np.ndarray:
        row = self.position(clip_id)
        start = int(self.offsets[row])
        return self.frames[start : start + int(self.num_frames[row])]

    def describe(self) -> dict[str, Any]:
        """Counts and sizes for ``earmark info``."""
        frames = self.num_frames
        fps = self.meta.get("frames_per_second")
        return {
            "directory": str(self.directory),
            "clips": len(self),
            "frames": int(self.meta["num_frames"]),
            "dim": self.dim,
            "frontend": self.meta["frontend"],
            "frontend_hash": self.frontend_hash,
            "frames_per_clip": {
                "min": int(frames.min()) if len(frames) else 0,
                "mean": float(frames.mean()) if len(frames) else 0.0,
                "max": int(frames.max()) if len(frames) else 0,
            },
            "frames_per_second": fps,
            "bytes": int((self.directory / _FRAMES).stat().st_size),
            "skipped": len(self.skipped),
        }


def merge_stores(
    parts: Sequence[str | Path], directory: str | Path, order: Sequence[str] | None = None
) -> FeatureStore:
    """Concatenate finished stores (e.g. shards) into one, streaming, in ``order`` if given.

    Every part must hold the same front-end config; a clip in two parts raises.
    """
    stores = [FeatureStore(p) for p in parts]
    if not stores:
        raise StoreError("merge_stores needs at least one store")
    first = stores[0]
    for store in stores[1:]:
        if store.frontend_hash != first.frontend_hash or store.dim != first.dim:
            raise StoreError(f"{store.directory} was computed with another front-end than {first.directory}")
    owner: dict[str, FeatureStore] = {}
    for store in stores:
        for clip in store.clip_ids.tolist():
            if clip in owner:
                raise StoreError(f"clip {clip!r} is in both {owner[clip].directory} and {store.directory}")
            owner[clip] = store
    wanted = list(owner) if order is None else [c for c in order if c in owner]
    writer = StoreWriter(directory, first.frontend, first.dim)
    done = writer.done
    batch: list[tuple[str, np.ndarray, float]] = []
    for clip in wanted:
        if clip in done:
            continue
        part = owner[clip]
        duration = float(part.duration_seconds[part.position(clip)])
        batch.append((clip, np.asarray(part[clip]), duration))
        if len(batch) >= 256:
            writer.append(batch)
            batch = []
    writer.append(batch)
    for store in stores:
        for clip, reason in store.skipped.items():
            writer.skip(clip, reason)
    return writer.finalize(order=wanted)
