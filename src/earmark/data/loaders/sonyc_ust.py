"""SONYC-UST v2: urban sound tags from ``annotations.csv``, verified and crowd-sourced.

The file has one row per annotation of a recording. Its columns (SONYC-UST v2 README, as quoted
in the soundata loader and used by the DCASE 2020 task 5 baseline): ``split`` (``train``,
``validate``, ``test``), ``sensor_id``, ``audio_filename``, ``annotator_id``, ``borough``,
``block``, ``latitude``, ``longitude``, ``year``, ``week``, ``day``, ``hour``; then per fine class
``<coarse_id>-<fine_id>_<name>_presence`` (``1-1_small-sounding-engine_presence``, with fine id
``X`` for "of uncertain kind": ``1-X_engine-of-uncertain-size_presence``) and
``<...>_proximity``; and per coarse class ``<coarse_id>_<name>_presence`` (``1_engine_presence``).

What the README says about the values, and what this loader does with them:

- ``annotator_id`` > 0 is a citizen-science volunteer (Zooniverse, the *crowd*); < 0 is a SONYC
  team member; ``0`` is the ground truth agreed upon by the SONYC team (*verified*). Rows of
  individual team members (< 0) are not used.
- A presence cell is ``1`` (present) or ``0`` (absent); ``-1`` means the class was not labeled in
  that row (team members annotated one coarse group at a time). Here ``-1`` and an empty cell
  are *missing*; any other value raises.
- Coarse presence columns are computed from the fine ones by the data set's authors; the coarse
  level reads them directly.

``annotation`` chooses the rows: ``"verified"`` uses the annotator-0 rows (several are combined:
positive where any says 1); ``"crowd"`` votes over the volunteer rows, with ``crowd_vote="any"``
(positive when at least one volunteer marked the class: what both DCASE baselines do,
``count > 0``) or ``"majority"`` (more than half of the volunteers who labeled the class);
``"verified_else_crowd"`` takes the verified rows where a clip has them and the crowd vote
otherwise. Verified clips get source ``curated``, crowd clips ``noisy``. A clip with no row of
the chosen kind is left out (the count is logged at INFO level on ``earmark.data.loaders``).

Class names are the column names without ``_presence`` (``1-1_small-sounding-engine``,
``1_engine``), ordered by code. Clip ids are audio file stems, split from the ``split`` column.
Audio is ``audio_root/<split>/<audio_filename>`` when that split folder exists, else
``audio_root/<audio_filename>`` (not checked here).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from earmark.data.labels import LabelError, Labels
from earmark.data.loaders._common import CsvRow, logger, parse_int, read_csv_rows
from earmark.data.loaders.base import register_loader
from earmark.data.manifest import Manifest

__all__ = ["SONYC_REQUIRED_COLUMNS", "SonycUstOptions", "load_sonyc_ust"]

SONYC_REQUIRED_COLUMNS = ("split", "audio_filename", "annotator_id")
_FINE = re.compile(r"^(\d+)-([0-9]+|X)_(.+)_presence$")
_COARSE = re.compile(r"^(\d+)_(.+)_presence$")
_CELL = {"1": 1, "0": 0, "-1": -1, "": -1}


#: The official splits as folds: a training config selects them with ``data.*_folds``.
SPLIT_FOLDS = {"train": 1, "validate": 2, "test": 3}


@dataclasses.dataclass(frozen=True)
class SonycUstOptions:
    """Options of the SONYC-UST loader.

    Attributes
    ----------
    annotations : ``annotations.csv``.
    audio_root : folder holding ``train/``, ``validate/``, ``test/`` (or all files flat);
        None means the folder of ``annotations``.
    level : ``"fine"`` (29 classes with the ``X`` ones) or ``"coarse"`` (8 classes).
    annotation : which rows label a clip: ``"verified"`` (the team's), ``"crowd"`` (volunteers',
        by ``crowd_vote``) or ``"verified_else_crowd"`` (verified if any, else crowd).
    crowd_vote : how volunteer rows combine: ``"any"`` or ``"majority"``.
    splits : the splits to keep.
    include_uncertain : keep the fine ``X`` classes ("engine of uncertain size"…).

    """

    annotations: str
    audio_root: str | None = None
    level: Literal["fine", "coarse"] = "fine"
    annotation: Literal["verified", "crowd", "verified_else_crowd"] = "verified_else_crowd"
    crowd_vote: Literal["any", "majority"] = "any"
    splits: tuple[str, ...] = ("train", "validate", "test")
    include_uncertain: bool = True


def _class_columns(header: Sequence[str], options: SonycUstOptions, path: Path) -> list[str]:
    """Presence columns of the chosen level, ordered by coarse then fine code (``X`` last)."""
    if options.level == "fine":
        found = [(m, c) for c in header if (m := _FINE.match(c))]
        if not options.include_uncertain:
            found = [(m, c) for m, c in found if m.group(2) != "X"]
        found.sort(key=lambda mc: (int(mc[0].group(1)), mc[0].group(2) == "X", mc[0].group(2)))
        form = "<coarse_id>-<fine_id>_<name>_presence"
    else:
        found = [(m, c) for c in header if (m := _COARSE.match(c)) and not _FINE.match(c)]
        found.sort(key=lambda mc: int(mc[0].group(1)))
        form = "<coarse_id>_<name>_presence"
    if not found:
        raise LabelError(f"{path}: no {options.level} presence column (a column named like {form})")
    return [c for _, c in found]


def _cell(value: str, path: Path, line: int, column: str) -> int:
    code = _CELL.get(value)
    if code is None:
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        code = int(number) if number in (1.0, 0.0, -1.0) else None
    if code is None:
        raise LabelError(
            f"{path}, line {line}: column {column!r} holds {value!r}; expected 1, 0, -1 or empty"
        )
    return code


def _combine(values: np.ndarray, how: Literal["any", "majority"]) -> tuple[np.ndarray, np.ndarray]:
    """``(positive, annotated)`` per class from ``(rows, classes)`` codes 1 / 0 / -1."""
    votes = (values >= 0).sum(axis=0)
    ones = (values == 1).sum(axis=0)
    positive = ones > 0 if how == "any" else 2 * ones > votes
    return positive & (votes > 0), votes > 0


@dataclasses.dataclass
class _Clip:
    split: str
    filename: str
    first_line: int
    verified: list[np.ndarray] = dataclasses.field(default_factory=list)
    crowd: list[np.ndarray] = dataclasses.field(default_factory=list)


def _group(rows: list[CsvRow], columns: list[str], path: Path) -> dict[str, _Clip]:
    clips: dict[str, _Clip] = {}
    for line, cells in rows:
        filename = cells["audio_filename"]
        stem = Path(filename).stem
        if not stem:
            raise LabelError(f"{path}, line {line}: empty audio_filename")
        clip = clips.setdefault(stem, _Clip(cells["split"], filename, line))
        if clip.split != cells["split"]:
            raise LabelError(
                f"{path}, line {line}: clip {stem!r} is in split {cells['split']!r} here but in "
                f"{clip.split!r} on line {clip.first_line}"
            )
        annotator = parse_int(cells["annotator_id"], path=path, line=line, column="annotator_id")
        if annotator < 0:
            continue  # an individual SONYC team member, before agreement: not used
        codes = np.array([_cell(cells[c], path, line, c) for c in columns], dtype=np.int8)
        (clip.verified if annotator == 0 else clip.crowd).append(codes)
    return clips


def _labels_of(clip: _Clip, options: SonycUstOptions) -> tuple[np.ndarray, np.ndarray, str] | None:
    use_verified = clip.verified and options.annotation in ("verified", "verified_else_crowd")
    if use_verified:
        positive, annotated = _combine(np.stack(clip.verified), "any")
        return positive, annotated, "curated"
    if clip.crowd and options.annotation in ("crowd", "verified_else_crowd"):
        positive, annotated = _combine(np.stack(clip.crowd), options.crowd_vote)
        return positive, annotated, "noisy"
    return None


def _audio_path(root: Path, clip: _Clip) -> Path:
    folder = root / clip.split
    return (folder if folder.is_dir() else root) / clip.filename


@register_loader("sonyc_ust", SonycUstOptions)
def load_sonyc_ust(options: SonycUstOptions) -> Manifest:
    """SONYC-UST v2 annotations.csv; verified and / or crowd labels, fine or coarse classes."""
    path = Path(options.annotations).expanduser()
    header, rows = read_csv_rows(path, SONYC_REQUIRED_COLUMNS, what="SONYC-UST annotations")
    columns = _class_columns(header, options, path)
    wanted = set(options.splits)
    clips = _group([(line, cells) for line, cells in rows if cells["split"] in wanted], columns, path)
    if not clips:
        present = sorted({cells["split"] for _, cells in rows})
        raise LabelError(
            f"{path}: no rows in splits {', '.join(options.splits)} (splits present: {', '.join(present)})"
        )
    root = Path(options.audio_root).expanduser() if options.audio_root else path.parent
    ids: list[str] = []
    positives: list[np.ndarray] = []
    annotated: list[np.ndarray] = []
    sources: list[str] = []
    kept: list[_Clip] = []
    for stem, clip in clips.items():
        result = _labels_of(clip, options)
        if result is None:
            continue
        ids.append(stem)
        positives.append(result[0])
        annotated.append(result[1])
        sources.append(result[2])
        kept.append(clip)
    if len(kept) < len(clips):
        logger.info(
            "sonyc_ust: %d of %d clips have no %s annotation and were left out",
            len(clips) - len(kept),
            len(clips),
            options.annotation,
        )
    if not kept:
        raise LabelError(
            f"{path}: no clip of splits {', '.join(options.splits)} has a {options.annotation} annotation"
        )
    n = len(ids)
    labels = Labels(
        clip_ids=np.array(ids, dtype=object),
        class_names=tuple(c.removesuffix("_presence") for c in columns),
        positive=np.stack(positives),
        annotated=np.stack(annotated),
        source=np.array(sources, dtype=object),
        # the official split as folds, so a training config can select it
        fold=np.array([SPLIT_FOLDS.get(c.split, -1) for c in kept], dtype=np.int64),
        duration_seconds=np.full(n, np.nan),
    )
    return Manifest(
        labels=labels,
        audio_paths=np.array([str(_audio_path(root, c)) for c in kept], dtype=object),
        splits=np.array([c.split for c in kept], dtype=object),
        name="sonyc_ust",
    )
