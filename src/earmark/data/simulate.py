"""Simulated label problems on real audio: polyphonic mixtures and missing labels.

* :func:`mix_clips` builds polyphonic mixtures from single-label clips: each mixture sums 2 to
  4 clips of distinct classes at random gains; its label is the union. Source recordings are
  split between train and test *before* mixing, so no recording is heard in both.
  The sources come from any single-label data: :func:`sources_from_labels` (a loaded layout,
  such as a folder per class) or :func:`sources_from_prepared` (a prepared directory), with
  :func:`limit_per_class`; :func:`esc_sources` lists the real ESC clips for "ESC-mix", the
  preset: ESC-10 without its fold 4 (the same recordings as ESC-50 fold 4) plus the ESC-50
  clips on ESC-50's 50 categories.
* :func:`drop_labels` removes labels at a rate: ``explicit`` mode hides a random share of
  all entries, positive or negative (the SONYC-UST experiment); ``positives_only`` mode keeps
  only positives and turns a random share of them into implicit negatives (AudioSet, last.fm).

Everything is seeded and ends in ordinary label tables and audio files.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile

from earmark.data.groups import group_keys
from earmark.data.labels import LabelError, Labels
from earmark.data.manifest import read_manifest_csv
from earmark.data.table import read_labels
from earmark.features.audio import load_audio
from earmark.io import CsvWriter, atomic_open, atomic_path, escape_cell, write_text_atomic

__all__ = [
    "ESC10_TO_ESC50",
    "MixResult",
    "SourceClip",
    "drop_labels",
    "esc_sources",
    "limit_per_class",
    "mix_clips",
    "sources_from_labels",
    "sources_from_prepared",
    "split_recordings",
]

#: ESC-10 folder class names → ESC-50 categories.
ESC10_TO_ESC50 = {
    "Dog bark": "dog",
    "Rain": "rain",
    "Sea waves": "sea_waves",
    "Baby cry": "crying_baby",
    "Clock tick": "clock_tick",
    "Person sneeze": "sneezing",
    "Helicopter": "helicopter",
    "Chainsaw": "chainsaw",
    "Rooster": "rooster",
    "Fire crackling": "crackling_fire",
}


@dataclasses.dataclass(frozen=True)
class SourceClip:
    """A single-label clip: its audio file, class, and the recording it was cut from."""

    path: Path
    class_name: str
    recording: str


def drop_labels(
    labels: Labels,
    *,
    rate: float,
    mode: Literal["explicit", "positives_only"],
    seed: int,
    clips: np.ndarray | None = None,
) -> Labels:
    """Labels with a seeded share ``rate`` of entries made missing.

    Parameters
    ----------
    labels : Labels
        The labels to degrade (typically complete).
    rate : float in [0, 1]
        Share of the eligible entries to drop: exactly ``round(rate · n)`` of them.
    mode : ``"explicit"`` or ``"positives_only"``
        ``explicit``: a random ``rate`` of the annotated entries (positive or negative) become
        missing. ``positives_only``: only positives stay annotated, and a random ``rate`` of
        them become implicit negatives.
    seed : int
        Seed of the draw.
    clips : (clips,) bool, optional
        Only these rows are degraded (e.g. train and validation, not the test set); other rows
        keep their labels in ``explicit`` mode and keep every entry in ``positives_only`` mode.

    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if mode not in ("explicit", "positives_only"):
        raise ValueError(f"mode must be 'explicit' or 'positives_only', got {mode!r}")
    rows = np.ones(labels.num_clips, dtype=bool) if clips is None else np.asarray(clips, dtype=bool)
    if rows.shape != (labels.num_clips,):
        raise ValueError(f"clips must be a ({labels.num_clips},) bool mask, got shape {rows.shape}")
    rng = np.random.default_rng(seed)
    positive, annotated = labels.positive.copy(), labels.annotated.copy()
    if mode == "positives_only":
        annotated[rows] = positive[rows]
        eligible = positive & rows[:, None]
    else:
        eligible = annotated & rows[:, None]
    candidates = np.flatnonzero(eligible)
    count = int(np.floor(rate * candidates.size + 0.5))
    dropped = rng.choice(candidates, size=count, replace=False) if count else np.empty(0, dtype=np.int64)
    positive.flat[dropped] = False
    annotated.flat[dropped] = False
    return labels.with_matrices(positive=positive, annotated=annotated)


def esc_sources(data_root: str | Path) -> list[SourceClip]:
    """The real ESC clips of "ESC-mix" under ``data_root`` (the layout of ``../shared/data``).

    ESC-10 (``esc10/audio``) without fold 4, its classes renamed to ESC-50 categories, and every
    clip in ``esc50_fold4/audio`` labeled from ``esc50_fold4/esc50.csv``; a recording take present
    in both is kept once. The recording is the Freesound id in the file name.
    """
    root = Path(data_root)
    esc10, esc50 = root / "esc10" / "audio", root / "esc50_fold4"
    if not esc10.is_dir() or not (esc50 / "esc50.csv").is_file():
        raise FileNotFoundError(f"{root} lacks esc10/audio or esc50_fold4/esc50.csv")
    sources: list[SourceClip] = []
    seen: set[tuple[str, str]] = set()
    for folder in sorted(p for p in esc10.iterdir() if p.is_dir()):
        name = re.sub(r"^\d+ - ", "", folder.name)
        if name not in ESC10_TO_ESC50:
            raise ValueError(f"unknown ESC-10 class folder {folder.name!r}")
        for path in sorted(folder.glob("*.flac")):
            fold, recording, take = path.stem.split("-")[:3]
            if fold == "4":
                continue  # the same recordings as ESC-50 fold 4
            seen.add((recording, take))
            sources.append(SourceClip(path, ESC10_TO_ESC50[name], recording))
    with open(esc50 / "esc50.csv", encoding="utf-8-sig", newline="") as handle:
        category = {Path(r["filename"]).stem: r["category"] for r in csv.DictReader(handle)}
    for path in sorted((esc50 / "audio").glob("*.flac")):
        if path.stem not in category:
            raise ValueError(f"{path.name} is not in {esc50 / 'esc50.csv'}")
        _, recording, take = path.stem.split("-")[:3]
        if (recording, take) in seen:
            continue
        sources.append(SourceClip(path, category[path.stem], recording))
    return sources


def sources_from_labels(
    labels: Labels, audio_paths: Sequence[str | Path], *, group_pattern: str | None = None
) -> list[SourceClip]:
    r"""The single-label clips of a data set as mixture sources.

    Parameters
    ----------
    labels : Labels
        The data set's labels; a clip is a source when it has exactly one positive.
    audio_paths : (clips,) paths
        Each clip's audio file.
    group_pattern : str, optional
        A regex whose first group, searched in the clip id, names the recording the clip was
        cut from (``'^(\d+-\d+)-'`` for ESC's takes, ``'_([a-z]+)_'`` for a speaker); clips of
        one recording stay on one side of :func:`split_recordings`. None: each clip its own.

    Raises
    ------
    LabelError
        No clip has exactly one positive.

    """
    if len(audio_paths) != labels.num_clips:
        raise LabelError(f"{len(audio_paths)} audio paths for {labels.num_clips} clips")
    keys = group_keys(labels.clip_ids, group_pattern)
    recordings = labels.clip_ids if keys is None else keys
    single = np.flatnonzero(labels.positive.sum(axis=1) == 1)
    if not single.size:
        raise LabelError("no clip has exactly one positive class: mixtures need single-label sources")
    classes = labels.positive[single].argmax(axis=1)
    return [
        SourceClip(Path(audio_paths[i]), labels.class_names[c], str(recordings[i]))
        for i, c in zip(single.tolist(), classes.tolist(), strict=True)
    ]


def sources_from_prepared(directory: str | Path, *, group_pattern: str | None = None) -> list[SourceClip]:
    """The single-label clips of a prepared directory (its ``labels.csv`` and ``manifest.csv``)."""
    directory = Path(directory)
    labels = read_labels(directory / "labels.csv")
    manifest = read_manifest_csv(directory / "manifest.csv")
    missing = [c for c in labels.clip_ids.tolist() if c not in manifest]
    if missing:
        raise LabelError(f"{directory / 'manifest.csv'} has no audio path for clip {missing[0]!r}")
    return sources_from_labels(
        labels, [manifest[c][1] for c in labels.clip_ids.tolist()], group_pattern=group_pattern
    )


def limit_per_class(sources: Sequence[SourceClip], per_class: int, *, seed: int) -> list[SourceClip]:
    """At most ``per_class`` clips of each class (a seeded draw), in their original order."""
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = defaultdict(list)
    for index, clip in enumerate(sources):
        by_class[clip.class_name].append(index)
    kept: set[int] = set()
    for name in sorted(by_class):
        indices = by_class[name]
        kept.update(rng.permutation(indices)[:per_class].tolist() if len(indices) > per_class else indices)
    return [clip for index, clip in enumerate(sources) if index in kept]


def split_recordings(
    sources: Sequence[SourceClip], *, test_share: float, seed: int
) -> tuple[list[SourceClip], list[SourceClip]]:
    """Train and test clips with no recording in both: per class, a share of its recordings to test.

    A class with a single recording stays in train; otherwise at least one recording of each class
    goes to each side.
    """
    if not 0.0 < test_share < 1.0:
        raise ValueError(f"test_share must be in (0, 1), got {test_share}")
    rng = np.random.default_rng(seed)
    recordings: dict[str, list[str]] = defaultdict(list)
    owner: dict[str, str] = {}
    for clip in sources:
        if owner.setdefault(clip.recording, clip.class_name) != clip.class_name:
            raise ValueError(f"recording {clip.recording} has clips of two classes")
        if clip.recording not in recordings[clip.class_name]:
            recordings[clip.class_name].append(clip.recording)
    test: set[str] = set()
    for class_name in sorted(recordings):
        names = sorted(recordings[class_name])
        if len(names) < 2:
            continue
        count = min(len(names) - 1, max(1, int(np.floor(test_share * len(names) + 0.5))))
        test.update(rng.permutation(np.array(names, dtype=object))[:count].tolist())
    return [c for c in sources if c.recording not in test], [c for c in sources if c.recording in test]


def _active_level(samples: np.ndarray, sample_rate: int) -> float:
    """RMS over the 50 ms frames within 40 dB of the loudest one (silence padding ignored)."""
    size = max(1, sample_rate // 20)
    frames = (
        samples[: len(samples) // size * size].reshape(-1, size) if len(samples) >= size else samples[None]
    )
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    active = rms >= rms.max() * 10 ** (-40 / 20)
    return float(np.sqrt((rms[active] ** 2).mean())) if rms.max() > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class MixResult:
    """What :func:`mix_clips` wrote: the table for the ``csv`` loader and the vocabulary."""

    table: Path
    classes: Path
    num_mixtures: dict[str, int]


def _place(samples: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(length, dtype=np.float64)
    if len(samples) >= length:
        start = int(rng.integers(0, len(samples) - length + 1))
        out[:] = samples[start : start + length]
    else:
        offset = int(rng.integers(0, length - len(samples) + 1))
        out[offset : offset + len(samples)] = samples
    return out


def mix_clips(
    train: Sequence[SourceClip],
    test: Sequence[SourceClip],
    out_dir: str | Path,
    *,
    train_mixtures: int,
    test_mixtures: int,
    seconds: float = 5.0,
    sources_per_mixture: tuple[int, int] = (2, 4),
    gain_db: tuple[float, float] = (-10.0, 0.0),
    level_dbfs: float = -25.0,
    sample_rate: int = 16000,
    train_folds: int = 4,
    seed: int = 0,
) -> MixResult:
    """Write polyphonic mixtures of ``train`` clips and of ``test`` clips, and their label table.

    Each mixture draws a number of sources in ``sources_per_mixture`` (inclusive), picks that
    many distinct classes uniformly among the split's classes and a random clip of each, brings
    every clip to ``level_dbfs`` (RMS of its active part), applies a random gain in ``gain_db``,
    crops a random window of ``seconds`` (or places a shorter clip at a random offset) and sums
    them; a mixture peaking above 0.99 is scaled down. Train mixtures get folds 1 to
    ``train_folds`` in turn (validation can take one of them); test mixtures get fold
    ``train_folds + 1``. Files go to ``out_dir/audio/{train,test}/``; the table
    ``out_dir/mixtures.csv`` (``path, labels, fold, mixed_from``, labels joined by commas) and the
    vocabulary ``out_dir/classes.txt`` are what the ``csv`` loader reads.
    """
    low, high = sources_per_mixture
    if not 1 <= low <= high:
        raise ValueError(
            f"sources_per_mixture must be (low, high) with 1 <= low <= high, got {sources_per_mixture}"
        )
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    length = round(seconds * sample_rate)
    cache: dict[Path, np.ndarray] = {}
    classes = sorted({c.class_name for c in [*train, *test]})
    rows: list[list[str]] = []
    counts = {}
    for split, clips, wanted in (("train", train, train_mixtures), ("test", test, test_mixtures)):
        by_class: dict[str, list[SourceClip]] = defaultdict(list)
        for clip in clips:
            by_class[clip.class_name].append(clip)
        names = sorted(by_class)
        if wanted and len(names) < high:
            raise ValueError(f"the {split} clips cover {len(names)} classes, fewer than {high} per mixture")
        (out / "audio" / split).mkdir(parents=True, exist_ok=True)
        for index in range(wanted):
            count = int(rng.integers(low, high + 1))
            chosen = rng.choice(len(names), size=count, replace=False)
            mixture = np.zeros(length, dtype=np.float64)
            used = []
            for j in sorted(chosen.tolist()):
                options = by_class[names[j]]
                clip = options[int(rng.integers(0, len(options)))]
                if clip.path not in cache:
                    cache[clip.path] = load_audio(clip.path, sample_rate)[0]
                samples = cache[clip.path]
                level = _active_level(samples, sample_rate)
                scale = 10 ** ((level_dbfs + rng.uniform(*gain_db)) / 20) / level if level > 0 else 0.0
                mixture += scale * _place(samples, length, rng)
                used.append(clip.path.name)
            peak = float(np.abs(mixture).max())
            if peak > 0.99:
                mixture *= 0.99 / peak
            relative = Path("audio") / split / f"{split}{index:05d}.flac"
            with atomic_path(out / relative) as temporary:
                soundfile.write(
                    temporary, mixture.astype(np.float32), sample_rate, subtype="PCM_16", format="FLAC"
                )
            fold = index % train_folds + 1 if split == "train" else train_folds + 1
            labels = ",".join(names[j] for j in sorted(chosen.tolist()))
            rows.append(  # text cells spreadsheet-safe, the fold a plain number
                [
                    escape_cell(relative.as_posix()),
                    escape_cell(labels),
                    str(fold),
                    escape_cell(" ".join(used)),
                ]
            )
        counts[split] = wanted
    table = out / "mixtures.csv"
    with atomic_open(table, "w", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(["path", "labels", "fold", "mixed_from"])
        writer.writerows(rows)
    vocabulary = out / "classes.txt"
    write_text_atomic(vocabulary, "".join(f"{c}\n" for c in classes))
    return MixResult(table, vocabulary, counts)
