"""FSDKaggle2019: ``train_curated.csv`` and ``train_noisy.csv`` (``fname,labels``).

Each CSV row names a clip and its labels, comma-separated inside one quoted cell
(``"Bark,Walk_and_footsteps"``). Curated clips get source and split ``curated``, noisy clips
``noisy``. The vocabulary is the sorted union of the labels of the files read, or the names listed
in ``classes``. Annotation is complete: every class a row does not list is an explicit negative
(for the noisy set those labels may be wrong; that is what its source says).

Clip ids are the file stems (``0006ae4e``); they must be unique across both files (in the real
release they are), otherwise loading stops with the clashing clip named.

Audio: with ``audio_root`` the files are looked up under ``audio_root/train_curated/`` and
``audio_root/train_noisy/`` as in the Kaggle release, and a missing file raises. Without it the
paths are built as ``root/train_curated/<fname>`` and not checked: the labels can be studied
without the audio, and ``prepare`` then fails with a clear "file does not exist" error naming the
first missing file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from earmark.config import ConfigError
from earmark.data.labels import LabelError, Labels
from earmark.data.loaders._common import read_csv_rows, read_name_list
from earmark.data.loaders.base import register_loader
from earmark.data.manifest import Manifest

__all__ = ["FSD_PARTS", "FsdKaggle2019Options", "load_fsdkaggle2019"]

#: part name -> (label file, audio subfolder, source).
FSD_PARTS = {
    "curated": ("train_curated.csv", "train_curated", "curated"),
    "noisy": ("train_noisy.csv", "train_noisy", "noisy"),
}


@dataclasses.dataclass(frozen=True)
class FsdKaggle2019Options:
    """Options of the FSDKaggle2019 loader.

    Attributes
    ----------
    root : the folder holding ``train_curated.csv`` and / or ``train_noisy.csv``.
    audio_root : the folder holding the ``train_curated/`` and ``train_noisy/`` audio folders;
        None builds unchecked paths under ``root`` (labels only).
    include : which parts to read, among ``"curated"`` and ``"noisy"``.
    classes : a file listing the vocabulary, one class per line; a label outside it raises.
        None takes the sorted union of the labels read.

    """

    root: str
    audio_root: str | None = None
    include: tuple[str, ...] = ("curated", "noisy")
    classes: str | None = None


@dataclasses.dataclass(frozen=True)
class _Clip:
    clip_id: str
    fname: str
    labels: tuple[str, ...]
    part: str
    where: str  # "file, line N" for messages


def _read_part(path: Path, part: str) -> list[_Clip]:
    header, rows = read_csv_rows(path, ("fname", "labels"), what=f"FSDKaggle2019 {part} label file")
    if header[:2] != ["fname", "labels"]:
        raise LabelError(f"{path}: expected the header 'fname,labels', found {','.join(header)}")
    clips: list[_Clip] = []
    seen: dict[str, int] = {}
    for line, cells in rows:
        fname = cells["fname"]
        stem = Path(fname).stem
        if not stem:
            raise LabelError(f"{path}, line {line}: empty fname")
        if stem in seen:
            raise LabelError(
                f"{path}, line {line}: clip {stem!r} is listed twice (first on line {seen[stem]})"
            )
        seen[stem] = line
        labels = tuple(name.strip() for name in cells["labels"].split(",") if name.strip())
        if not labels:
            raise LabelError(f"{path}, line {line}: clip {stem!r} has no labels")
        clips.append(_Clip(stem, fname, labels, part, f"{path}, line {line}"))
    if not clips:
        raise LabelError(f"{path}: no clips")
    return clips


def _check_vocabulary(clips: list[_Clip], class_names: list[str], classes_file: str) -> None:
    known = set(class_names)
    for clip in clips:
        unknown = [name for name in clip.labels if name not in known]
        if unknown:
            raise LabelError(
                f"{clip.where}: clip {clip.clip_id!r} has label {unknown[0]!r}, which is not in "
                f"the vocabulary {classes_file} ({len(class_names)} classes)"
            )


def _audio_path(options: FsdKaggle2019Options, root: Path, clip: _Clip) -> Path:
    folder = FSD_PARTS[clip.part][1]
    if options.audio_root is None:
        return root / folder / clip.fname
    path = Path(options.audio_root).expanduser() / folder / clip.fname
    if not path.is_file():
        raise LabelError(
            f"fsdkaggle2019 layout: no audio for clip {clip.clip_id!r} ({clip.where}): {path} "
            "does not exist; check audio_root (it must hold train_curated/ and train_noisy/)"
        )
    return path.resolve()


@register_loader("fsdkaggle2019", FsdKaggle2019Options)
def load_fsdkaggle2019(options: FsdKaggle2019Options) -> Manifest:
    """FSDKaggle2019 curated and noisy label files; multi-label, complete annotation."""
    unknown = [part for part in options.include if part not in FSD_PARTS]
    if unknown or not options.include:
        wrong = repr(unknown[0]) if unknown else "nothing"
        raise ConfigError(f"include: {wrong} is not a part; valid parts: curated, noisy")
    root = Path(options.root).expanduser()
    clips: list[_Clip] = []
    first_seen: dict[str, _Clip] = {}
    for part in dict.fromkeys(options.include):
        for clip in _read_part(root / FSD_PARTS[part][0], part):
            if clip.clip_id in first_seen:
                raise LabelError(
                    f"{clip.where}: clip {clip.clip_id!r} is also listed in "
                    f"{first_seen[clip.clip_id].where}; clip ids must be unique across the "
                    "curated and noisy files"
                )
            first_seen[clip.clip_id] = clip
            clips.append(clip)
    if options.classes is not None:
        class_names = read_name_list(options.classes, "class list")
        _check_vocabulary(clips, class_names, options.classes)
    else:
        class_names = sorted({name for clip in clips for name in clip.labels})
    labels = Labels.from_lists(
        [clip.clip_id for clip in clips],
        [clip.labels for clip in clips],
        class_names,
        source=[FSD_PARTS[clip.part][2] for clip in clips],
    )
    paths = [_audio_path(options, root, clip) for clip in clips]
    return Manifest(
        labels=labels,
        audio_paths=np.array([str(p) for p in paths], dtype=object),
        splits=np.array([clip.part for clip in clips], dtype=object),
        name="fsdkaggle2019",
    )
