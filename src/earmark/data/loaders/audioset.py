"""AudioSet embeddings: YouTube-8M style TFRecord shards of VGGish frames, read without TensorFlow.

Each record is a ``tf.train.SequenceExample`` whose context holds ``video_id`` (bytes),
``start_time_seconds`` and ``end_time_seconds`` (float) and ``labels`` (int64 class indices), and
whose feature list ``audio_embedding`` holds one frame per 0.96 s, each a single 128-byte string of
uint8 codes. ``class_labels_indices.csv`` (``index,mid,display_name``) names the classes: the
vocabulary is the display names in index order, which must be unique.

AudioSet labels are positives only: ``annotated == positive``, every other entry is missing. The
labels are known to be noisy; set ``source: noisy`` to say so to a strategy.

Clip ids are ``<video_id>_<start in whole milliseconds>`` (``--PJHxphWEs_30000``): exact for
any start time, free of decimal points, unique per segment. Durations are
``end_time_seconds - start_time_seconds``. Records with no frames are skipped (the count is
logged at INFO level on ``earmark.data.loaders``).

The manifest's ``precomputed.frames(i)`` gives clip ``i``'s ``(num_frames, 128)`` float32 frames
dequantised onto [-2, 2]; the uint8 frames of all clips are held in memory (about 1.3 kB per
clip, 2.6 GB for the 2 M clips of the unbalanced set).
"""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path
from typing import Literal

import numpy as np

from earmark.data.labels import LabelError, Labels
from earmark.data.loaders._common import logger, parse_int, read_csv_rows
from earmark.data.loaders.base import register_loader
from earmark.data.loaders.tfrecord import SequenceExample, read_sequence_examples
from earmark.data.manifest import Manifest, PrecomputedFrames
from earmark.features.embeddings import PrecomputedConfig, dequantize_uint8

__all__ = ["AudioSetOptions", "audioset_clip_id", "load_audioset", "read_class_labels"]

EMBEDDING_KEY = "audio_embedding"


@dataclasses.dataclass(frozen=True)
class AudioSetOptions:
    """Options of the AudioSet embedding loader.

    Attributes
    ----------
    records : a folder of ``*.tfrecord`` files, or a glob pattern.
    class_labels : ``class_labels_indices.csv``.
    split : the feature-store split every clip goes to.
    source : the source every clip gets.
    verify_crc : check the CRC-32C of every record (turn off only to read a known-good copy faster).

    """

    records: str
    class_labels: str
    split: str = "all"
    source: Literal["curated", "noisy", "unlabeled"] = "curated"
    verify_crc: bool = True


def audioset_clip_id(video_id: str, start_time_seconds: float) -> str:
    """``<video_id>_<start in whole milliseconds>``."""
    return f"{video_id}_{round(start_time_seconds * 1000)}"


def read_class_labels(path: str | Path) -> list[str]:
    """Display names of ``class_labels_indices.csv`` in index order; they must be unique."""
    path = Path(path).expanduser()
    _, rows = read_csv_rows(path, ("index", "mid", "display_name"), what="AudioSet class list")
    names: dict[int, tuple[str, int]] = {}
    for line, cells in rows:
        index = parse_int(cells["index"], path=path, line=line, column="index")
        if index in names:
            raise LabelError(
                f"{path}, line {line}: index {index} is used twice (also line {names[index][1]})"
            )
        names[index] = (cells["display_name"], line)
    if sorted(names) != list(range(len(names))):
        raise LabelError(f"{path}: indices must be 0..{len(names) - 1} with none missing")
    first: dict[str, int] = {}
    for name, line in names.values():
        if name in first:
            raise LabelError(
                f"{path}, line {line}: display_name {name!r} also names line {first[name]}; "
                "class names must be unique"
            )
        first[name] = line
    return [names[i][0] for i in range(len(names))]


def _record_files(records: str) -> list[Path]:
    path = Path(records).expanduser()
    files = (
        sorted(path.glob("*.tfrecord")) if path.is_dir() else sorted(Path(p) for p in glob.glob(str(path)))
    )
    files = [f for f in files if f.is_file()]
    if not files:
        raise LabelError(
            f"audioset layout: no TFRecord files at {records} (a folder of *.tfrecord or a glob)"
        )
    return files


def _single(example: SequenceExample, key: str, kind: str, where: str) -> bytes | float:
    feature = example.context.get(key)
    if feature is None or feature.kind != kind or len(feature.values) != 1:
        raise LabelError(f"{where}: context feature {key!r} must hold one {kind} value")
    value = feature.values[0]
    return value if isinstance(value, bytes) else float(value)


def _video_id(example: SequenceExample, where: str) -> str:
    value = _single(example, "video_id", "bytes", where)
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _start(example: SequenceExample, where: str) -> float:
    value = _single(example, "start_time_seconds", "float", where)
    return value if isinstance(value, float) else float("nan")


@dataclasses.dataclass
class _Collected:
    clip_ids: list[str] = dataclasses.field(default_factory=list)
    where: dict[str, str] = dataclasses.field(default_factory=dict)
    label_rows: list[np.ndarray] = dataclasses.field(default_factory=list)
    durations: list[float] = dataclasses.field(default_factory=list)
    frames: list[np.ndarray] = dataclasses.field(default_factory=list)
    empty: int = 0


def _add(example: SequenceExample, where: str, num_classes: int, collected: _Collected) -> None:
    start = _start(example, where)
    clip_id = audioset_clip_id(_video_id(example, where), start)
    if clip_id in collected.where:
        raise LabelError(f"{where}: clip {clip_id!r} is also {collected.where[clip_id]}")
    labels = example.context.get("labels")
    if labels is None or labels.kind != "int64":
        raise LabelError(f"{where}: clip {clip_id!r} has no int64 'labels' context feature")
    indices = np.asarray(labels.values, dtype=np.int64)
    if ((indices < 0) | (indices >= num_classes)).any():
        bad = int(indices[(indices < 0) | (indices >= num_classes)][0])
        raise LabelError(f"{where}: clip {clip_id!r} has class index {bad}, outside 0..{num_classes - 1}")
    frames = [
        f.values[0] for f in example.feature_lists.get(EMBEDDING_KEY, []) if f.kind == "bytes" and f.values
    ]
    if not frames:
        collected.empty += 1
        return
    if len({len(f) for f in frames}) != 1:
        raise LabelError(f"{where}: clip {clip_id!r} has frames of different sizes")
    end = example.context.get("end_time_seconds")
    duration = (
        float(end.values[0]) - start
        if end is not None and end.kind == "float" and len(end.values)
        else np.nan
    )
    collected.where[clip_id] = where
    collected.clip_ids.append(clip_id)
    collected.label_rows.append(indices)
    collected.durations.append(duration)
    collected.frames.append(
        np.frombuffer(b"".join(f for f in frames if isinstance(f, bytes)), dtype=np.uint8).reshape(
            len(frames), -1
        )
    )


@register_loader("audioset", AudioSetOptions)
def load_audioset(options: AudioSetOptions) -> Manifest:
    """AudioSet VGGish TFRecord shards; positives-only labels, precomputed frames."""
    class_names = read_class_labels(options.class_labels)
    collected = _Collected()
    for path in _record_files(options.records):
        for number, example in enumerate(read_sequence_examples(path, verify_crc=options.verify_crc)):
            _add(example, f"{path}, record {number}", len(class_names), collected)
    if collected.empty:
        logger.info("audioset: %d records without %s frames were skipped", collected.empty, EMBEDDING_KEY)
    if not collected.clip_ids:
        raise LabelError(f"audioset layout: no record with frames at {options.records}")
    dims = {f.shape[1] for f in collected.frames}
    if len(dims) != 1:
        raise LabelError(f"audioset layout: frames of sizes {sorted(dims)} in one data set")
    n = len(collected.clip_ids)
    positive = np.zeros((n, len(class_names)), dtype=bool)
    for i, indices in enumerate(collected.label_rows):
        positive[i, indices] = True
    labels = Labels(
        clip_ids=np.array(collected.clip_ids, dtype=object),
        class_names=tuple(class_names),
        positive=positive,
        annotated=positive.copy(),
        source=np.array([options.source] * n, dtype=object),
        fold=np.full(n, -1, dtype=np.int64),
        duration_seconds=np.array(collected.durations, dtype=np.float64),
    )
    all_frames = np.concatenate(collected.frames)
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in collected.frames])])

    def frames_of(i: int) -> np.ndarray:
        return dequantize_uint8(all_frames[offsets[i] : offsets[i + 1]])

    config = PrecomputedConfig(source="vggish", dim=dims.pop(), frame_seconds=0.96, sample_rate=16000)
    return Manifest(
        labels=labels,
        audio_paths=np.array([""] * n, dtype=object),
        splits=np.array([options.split] * n, dtype=object),
        precomputed=PrecomputedFrames(config, frames_of),
        name="audioset",
    )
