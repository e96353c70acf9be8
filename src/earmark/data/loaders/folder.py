"""Folder-per-class layout: ``root/<class folder>/<clip>.<ext>`` (ESC-10's release layout)."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

from earmark.config import ConfigError
from earmark.data.labels import LabelError, Labels
from earmark.data.loaders.base import register_loader
from earmark.data.manifest import Manifest
from earmark.features.audio import AUDIO_SUFFIXES

logger = logging.getLogger(__name__)

__all__ = ["FolderOptions", "load_folder"]


@dataclasses.dataclass(frozen=True)
class FolderOptions:
    r"""Options of the folder-per-class loader.

    Attributes
    ----------
    root : the folder holding one sub-folder of audio files per class.
    class_pattern
        A regex on a folder's name whose first group is the class (the default drops a
        numeric prefix such as ``001 - ``).
    fold_pattern
        A regex on a file's name whose first group is its fold (ESC: ``^(\d+)-``); every file
        must match it.
    source : the source of every clip (curated, noisy or unlabeled).
    split : the feature-store split every clip goes to.

    """

    root: str
    class_pattern: str = r"^(?:\d+\s*-\s*)?(.+?)\s*$"
    fold_pattern: str | None = None
    source: str = "curated"
    split: str = "all"


def _compile(pattern: str, key: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ConfigError(f"{key}: invalid regular expression {pattern!r} ({error})") from error
    if compiled.groups < 1:
        raise ConfigError(f"{key}: {pattern!r} needs one capturing group")
    return compiled


@register_loader("folder", FolderOptions)
def load_folder(options: FolderOptions) -> Manifest:
    """Folder per class: class from the folder name, fold from the file name (a regex)."""
    root = Path(options.root).expanduser()
    if not root.is_dir():
        raise LabelError(f"folder layout: root {root} is not a directory")
    class_re = _compile(options.class_pattern, "class_pattern")
    fold_re = _compile(options.fold_pattern, "fold_pattern") if options.fold_pattern else None
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise LabelError(
            f"folder layout: {root} has no class folders; for labels in the file names use the "
            "'files' layout (earmark prepare files --set 'pattern=^(?P<label>...)')"
        )
    clip_ids: list[str] = []
    classes: list[list[str]] = []
    paths: list[Path] = []
    folds: list[int] = []
    class_names: list[str] = []
    for folder in folders:
        match = class_re.match(folder.name)
        if not match:
            raise LabelError(f"folder {folder}: name does not match class_pattern {options.class_pattern!r}")
        name = match.group(1)
        if name in class_names:
            raise LabelError(f"folder {folder}: class {name!r} comes from two folders")
        class_names.append(name)
        found_before = len(clip_ids)
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            if not path.is_file():  # a dangling symlink, a FIFO, a folder named like audio
                logger.warning("folder layout: %s is not a regular file; left out", path)
                continue
            fold = -1
            if fold_re is not None:
                found = fold_re.search(path.name)
                if not found:
                    raise LabelError(
                        f"{path}: file name does not match fold_pattern {options.fold_pattern!r}"
                    )
                fold = int(found.group(1))
            clip_ids.append(path.stem)
            classes.append([name])
            paths.append(path.resolve())
            folds.append(fold)
        if len(clip_ids) == found_before:
            logger.warning(
                "folder layout: %s holds no audio file (%s); class %r has no clip",
                folder,
                " ".join(sorted(AUDIO_SUFFIXES)),
                name,
            )
    if not clip_ids:
        raise LabelError(f"folder layout: no audio files under {root}")
    labels = Labels.from_lists(
        clip_ids,
        classes,
        class_names,
        source=options.source,
        fold=folds,
    )
    return Manifest.single_split(labels, paths, split=options.split, name=root.name)
