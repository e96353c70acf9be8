"""``prepare``: a manifest in, a prepared directory out (label table + one feature store per split).

Layout of a prepared directory::

    manifest.csv          clip_id, split, audio path (as the loader gave them)
    loader_labels.csv     the loader's label table, before any clip was skipped (label edits applied)
    edits.csv             the label edits applied (only when ``edits`` were given)
    features/<split>/     one feature store per split (see earmark.features.store)
    labels.csv            the label table of the clips that have features, durations filled in
    skipped.csv           clip_id, split, path, reason of every skipped clip
    prepare.json          what was done: front-end, counts per split, skipped, seconds

Decoding runs in a small thread pool ahead of the front-end, so reading files overlaps with
computing features. A split whose store is finished is not touched again; an unfinished one
continues where it stopped. With ``shard=(i, n)`` only every n-th clip (from the i-th) is
prepared, into ``features/<split>/shard-i-of-n``; :func:`merge_shards` joins the shards.

Label edits (:mod:`earmark.data.edits`) are applied to the loader's labels first: blacklisted
clips are never decoded, ``add`` / ``remove`` edits change the label table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np

from earmark.data.edits import LabelEdit, apply_edits, count_actions, read_edits, write_edits
from earmark.data.labels import Labels
from earmark.data.manifest import Manifest, read_manifest_csv, write_manifest_csv
from earmark.data.table import read_labels, write_labels
from earmark.errors import EarmarkError
from earmark.features.audio import AudioError, load_audio
from earmark.features.frontend import Frontend, FrontendConfig, build_frontend
from earmark.features.store import FeatureStore, StoreError, StoreWriter, merge_stores
from earmark.io import CsvWriter, atomic_open, escape_cells, write_text_atomic

__all__ = ["PrepareError", "PrepareResult", "merge_shards", "parse_shard", "prepare"]


class PrepareError(EarmarkError):
    """``prepare`` cannot produce a usable prepared directory (e.g. every clip was skipped)."""


OnError = Literal["raise", "skip"]
Progress = Callable[[int], None]


@dataclasses.dataclass(frozen=True)
class PrepareResult:
    """What a prepare (or a shard of one) did."""

    directory: Path
    clips_per_split: dict[str, int]
    skipped: dict[str, str]
    seconds: float
    finished: bool
    labels: Labels | None
    edits: dict[str, int] = dataclasses.field(default_factory=dict)  # label edits applied per action

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe summary."""
        return {
            "directory": str(self.directory),
            "clips_per_split": self.clips_per_split,
            "skipped": len(self.skipped),
            "seconds": round(self.seconds, 3),
            "finished": self.finished,
            "edits": self.edits,
        }


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` → ``(i, n)``; ``"auto"`` reads ``RANK`` / ``WORLD_SIZE`` (torchrun); None → None."""
    if text is None:
        return None
    if text == "auto":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return (int(os.environ.get("RANK", "0")), world) if world > 1 else None
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 0/4) or 'auto', got {text!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"--shard {text}: need 0 <= i < n")
    return index, count


def _split_dir(out: Path, split: str, shard: tuple[int, int] | None) -> Path:
    base = out / "features" / split
    return base if shard is None else base / f"shard-{shard[0]}-of-{shard[1]}"


def _decoded(
    manifest: Manifest, rows: np.ndarray, sample_rate: int, workers: int, lookahead: int
) -> Iterator[tuple[int, np.ndarray | AudioError]]:
    """Decode the clips at ``rows`` in a thread pool, yielding in order, ``lookahead`` ahead."""

    def job(row: int) -> np.ndarray | AudioError:
        try:
            return load_audio(manifest.audio_paths[row], sample_rate)[0]
        except AudioError as error:
            return error

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: deque[tuple[int, Future[np.ndarray | AudioError]]] = deque()
        for row in rows.tolist():
            pending.append((row, pool.submit(job, row)))
            if len(pending) >= lookahead:
                first, future = pending.popleft()
                yield first, future.result()
        while pending:
            first, future = pending.popleft()
            yield first, future.result()


def _fill_split(
    manifest: Manifest,
    rows: np.ndarray,
    writer: StoreWriter,
    frontend: Frontend,
    *,
    on_error: OnError,
    batch_clips: int,
    workers: int,
    progress: Progress | None,
) -> None:
    ids = manifest.labels.clip_ids
    if manifest.precomputed is not None:
        frame_seconds = 1.0 / frontend.frames_per_second
        for start in range(0, len(rows), batch_clips):
            chunk = rows[start : start + batch_clips]
            items = []
            for row in chunk.tolist():
                frames = np.asarray(manifest.precomputed.frames(row), dtype=np.float32)
                items.append((ids[row], frames, frames.shape[0] * frame_seconds))
            writer.append(items)
            if progress:
                progress(len(chunk))
        return
    rate = frontend.config.sample_rate
    batch: list[tuple[str, np.ndarray]] = []

    def flush() -> None:
        frames = frontend.compute_batch([w for _, w in batch])
        writer.append((c, f, len(w) / rate) for (c, w), f in zip(batch, frames, strict=True))
        if progress:
            progress(len(batch))
        batch.clear()

    for row, result in _decoded(manifest, rows, rate, workers, lookahead=2 * batch_clips):
        if isinstance(result, AudioError):
            if on_error == "raise":
                raise AudioError(
                    result.path,
                    f"{result.reason} (clip {ids[row]!r}; use --on-error skip to skip such clips)",
                )
            writer.skip(ids[row], result.reason)
            if progress:
                progress(1)
            continue
        batch.append((ids[row], result))
        if len(batch) >= batch_clips:
            flush()
    if batch:
        flush()


def prepare(
    manifest: Manifest,
    out: str | Path,
    frontend_config: FrontendConfig,
    *,
    on_error: OnError = "raise",
    shard: tuple[int, int] | None = None,
    batch_clips: int = 16,
    workers: int = 2,
    progress: Progress | None = None,
    edits: Sequence[LabelEdit] | None = None,
) -> PrepareResult:
    """Compute and store the features of every clip of ``manifest`` under ``out``.

    Resumable: run it again after an interruption and it continues, redoing nothing finished.
    ``edits`` (oldest first) are applied to the loader's labels before anything is decoded;
    an edit naming an unknown clip or class raises. Returns a :class:`PrepareResult`;
    ``labels`` is set once every split is finished.
    """
    started = time.perf_counter()
    out = Path(out)
    frontend = build_frontend(frontend_config)
    if frontend.precomputed != (manifest.precomputed is not None):
        raise ValueError(
            f"data set {manifest.name!r} {'ships' if manifest.precomputed else 'has no'} precomputed "
            f"features but the front-end is {type(frontend).__name__}"
        )
    if manifest.precomputed is not None:
        frontend = build_frontend(manifest.precomputed.config)
    if edits:
        manifest = _apply_edits(manifest, edits)
    if on_error == "raise":
        absent = manifest.check_files()
        if absent:
            raise AudioError(
                absent[0][1],
                f"file does not exist (clip {absent[0][0]!r}; "
                f"{len(absent)} files are missing; use --on-error skip to skip them)",
            )
    out.mkdir(parents=True, exist_ok=True)
    write_manifest_csv(manifest, out / "manifest.csv")
    write_labels(manifest.labels, out / "loader_labels.csv")
    if edits:
        write_edits(out / "edits.csv", edits)
    else:
        (out / "edits.csv").unlink(missing_ok=True)
    for split in manifest.split_names:
        directory = _split_dir(out, split, shard)
        if (directory / "store.json").exists():
            continue
        rows = manifest.rows_of_split(split)
        if shard is not None:
            rows = rows[shard[0] :: shard[1]]
        writer = StoreWriter(directory, frontend.config, frontend.dim)
        try:
            done = writer.done
            if progress and done:
                progress(sum(1 for r in rows.tolist() if manifest.labels.clip_ids[r] in done))
            todo = np.array(
                [r for r in rows.tolist() if manifest.labels.clip_ids[r] not in done],
                dtype=np.int64,
            )
            _fill_split(
                manifest,
                todo,
                writer,
                frontend,
                on_error=on_error,
                batch_clips=batch_clips,
                workers=workers,
                progress=progress,
            )
        finally:
            writer.close()
        writer.finalize(order=manifest.labels.clip_ids[rows].tolist())
    if shard is not None:
        return PrepareResult(out, {}, {}, time.perf_counter() - started, False, None)
    return _finish(out, frontend.config, time.perf_counter() - started)


def _apply_edits(manifest: Manifest, edits: Sequence[LabelEdit]) -> Manifest:
    """The manifest with ``edits`` applied to its labels and its blacklisted clips left out."""
    labels, _ = apply_edits(manifest.labels, edits)
    keep = np.flatnonzero(np.isin(manifest.labels.clip_ids, labels.clip_ids))
    return dataclasses.replace(manifest.take(keep), labels=labels)


def _finish(out: Path, frontend_config: FrontendConfig, seconds: float) -> PrepareResult:
    """Write labels.csv, skipped.csv and prepare.json from the finished stores."""
    loader_labels = read_labels(out / "loader_labels.csv")
    paths = read_manifest_csv(out / "manifest.csv")
    splits = list(dict.fromkeys(split for split, _ in paths.values()))
    stores = {split: FeatureStore(out / "features" / split) for split in splits}
    durations: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for store in stores.values():
        durations.update(zip(store.clip_ids.tolist(), store.duration_seconds.tolist(), strict=True))
        skipped.update(store.skipped)
    keep = np.array([c in durations for c in loader_labels.clip_ids.tolist()], dtype=bool)
    labels = loader_labels.take(keep)
    labels = dataclasses.replace(
        labels, duration_seconds=np.array([durations[c] for c in labels.clip_ids.tolist()])
    )
    write_labels(labels, out / "labels.csv")
    with atomic_open(out / "skipped.csv", "w", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(["clip_id", "split", "path", "reason"])
        for clip, reason in skipped.items():
            split, path = paths.get(clip, ("", ""))
            writer.writerow(escape_cells([clip, split, path, reason]))  # all text
    if labels.num_clips == 0:
        reasons = sorted(set(skipped.values()))
        raise PrepareError(
            f"{out}: no clip was prepared ({len(skipped)} skipped, e.g. {'; '.join(reasons[:3]) or 'none'}; "
            f"every skipped clip and why is in {out / 'skipped.csv'})"
        )
    edits = count_actions(read_edits(out / "edits.csv")) if (out / "edits.csv").exists() else {}
    result = PrepareResult(
        out, {s: len(st) for s, st in stores.items()}, skipped, seconds, True, labels, edits
    )
    summary = {
        **result.as_dict(),
        "labels": labels.summary().as_dict(),
        "frontend_hash": next(iter(stores.values())).frontend_hash,
    }
    write_text_atomic(out / "prepare.json", json.dumps(summary, indent=2))
    return result


def merge_shards(out: str | Path) -> PrepareResult:
    """Merge every split's finished shards under ``out`` into one store per split, then finish."""
    started = time.perf_counter()
    out = Path(out)
    paths = read_manifest_csv(out / "manifest.csv")
    splits = list(dict.fromkeys(split for split, _ in paths.values()))
    frontend_config: FrontendConfig | None = None
    for split in splits:
        directory = out / "features" / split
        if (directory / "store.json").exists():
            continue
        shards = sorted(directory.glob("shard-*-of-*"))
        if not shards:
            raise StoreError(f"{directory}: no shards to merge")
        count = int(shards[0].name.rsplit("-", 1)[1])
        finished = [s for s in shards if (s / "store.json").exists()]
        if len(finished) != count:
            raise StoreError(
                f"{directory}: {len(finished)} of {count} shards are finished; finish the rest first"
            )
        order = [c for c, (s, _) in paths.items() if s == split]
        staging = directory.with_name(directory.name + ".merging")
        merged = merge_stores(finished, staging, order=order)
        frontend_config = merged.frontend
        for shard in shards:
            _remove_tree(shard)
        # store.json last: the split counts as finished only once its frames are in place
        for item in sorted(staging.iterdir(), key=lambda p: p.name == "store.json"):
            os.replace(item, directory / item.name)
        staging.rmdir()
    if frontend_config is None:
        frontend_config = FeatureStore(out / "features" / splits[0]).frontend
    return _finish(out, frontend_config, time.perf_counter() - started)


def _remove_tree(path: Path) -> None:
    for item in sorted(path.rglob("*"), reverse=True):
        item.unlink() if item.is_file() else item.rmdir()
    path.rmdir()
