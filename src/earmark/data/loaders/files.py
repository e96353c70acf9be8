r"""Labels in the file names: a regex with named groups over each file's name or relative path.

A flat folder such as the Free Spoken Digit Dataset (``0_jackson_12.wav``: digit, speaker,
take) needs no label table::

    earmark prepare files --root recordings --out prepared \
        --set 'pattern=^(?P<label>\d)_(?P<group>[a-z]+)_(?P<index>\d+)' --set 'test=index<5'

``pattern`` is searched (``re.search``) in each audio file's name without its extension, or
with ``match_on: path`` in its path relative to ``root`` without extension (``/`` separators),
so a folder can carry the class too (``(?P<label>[^/]+)/``). Named groups:

- ``label`` (required): the clip's class;
- ``fold`` (optional): an integer fold;
- ``group`` (optional): what must stay on one side of every split, such as the speaker or the
  recording; with ``folds: N`` the clips get folds ``1..N`` stratified by class, each group whole
  in one fold;
- any other name (``index``): usable in the ``test`` rule.

``test`` sends the clips it selects to the split ``test`` and the others to ``train``:
``NAME<5`` (also ``<=``, ``>``, ``>=``, compared as numbers) or ``NAME=a,b,c`` (an explicit list;
``NAME!=a,b`` for its complement). A rule on any group but ``group`` that leaves one group on
both sides is reported in the log.

The clip id is the path relative to ``root`` without its extension (``/`` separators), the rule
every loader with audio paths follows.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import numpy as np

from earmark.config import NonNegativeInt, Range
from earmark.data.folds import assign_folds
from earmark.data.labels import LabelError, Labels
from earmark.data.loaders.base import register_loader
from earmark.data.manifest import Manifest
from earmark.errors import EarmarkError
from earmark.features.audio import AUDIO_SUFFIXES

logger = logging.getLogger(__name__)

__all__ = ["FilesOptions", "load_files", "parse_split_rule"]

_RULE = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*(?P<op><=|>=|!=|==|<|>|=)\s*(?P<value>.*?)\s*$")


@dataclasses.dataclass(frozen=True)
class FilesOptions:
    """Options of the file-name layout.

    Attributes
    ----------
    root : the folder holding the audio (searched recursively).
    pattern : a regex with a named group ``label`` and optionally ``fold``, ``group`` and others.
    match_on : ``name`` (file name without extension) or ``path`` (path under root, no extension).
    test : a split rule on a named group, ``index<5`` or ``group=a,b``; None puts all in ``split``.
    folds : assign folds 1..folds grouped by ``group`` and stratified by class (0: none).
    seed : seeds the fold assignment.
    unmatched : ``raise`` on an audio file the pattern does not match, or ``skip`` it (logged).
    source : the source of every clip (curated, noisy or unlabeled).
    split : the feature-store split of every clip when there is no ``test`` rule.

    """

    root: str
    pattern: str
    match_on: Literal["name", "path"] = "name"
    test: str | None = None
    folds: Annotated[int, Range(ge=0, le=1000)] = 0
    seed: NonNegativeInt = 0
    unmatched: Literal["raise", "skip"] = "raise"
    source: str = "curated"
    split: str = "all"


class SplitRuleError(EarmarkError):
    """A ``test`` rule that cannot be read or names a group the pattern lacks."""


def parse_split_rule(rule: str, group_names: set[str]) -> tuple[str, Callable[[str], bool]]:
    """The group a split rule reads and a predicate on that group's value.

    Parameters
    ----------
    rule
        ``NAME<N`` / ``<=`` / ``>`` / ``>=`` (numbers), or ``NAME=a,b`` / ``NAME!=a,b`` (a list).
    group_names
        The named groups of the pattern.

    Returns
    -------
    name, predicate : the group and ``value -> selected``.

    Raises
    ------
    SplitRuleError
        The rule is malformed, names an unknown group, or compares with a non-number.

    """
    found = _RULE.match(rule)
    if not found:
        raise SplitRuleError(f"test rule {rule!r} must look like NAME<5 or NAME=a,b")
    name, op, value = found["name"], found["op"], found["value"]
    if name not in group_names:
        raise SplitRuleError(
            f"test rule {rule!r} reads group {name!r}, which the pattern does not define "
            f"(its groups: {', '.join(sorted(group_names))})"
        )
    if op in ("=", "==", "!="):
        listed = {v.strip() for v in value.split(",") if v.strip()}
        if not listed:
            raise SplitRuleError(f"test rule {rule!r} lists no value")
        keep = op != "!="
        return name, lambda v: (v in listed) == keep
    bound = _number(value, f"test rule {rule!r}: {value!r} is not a number")
    compare: dict[str, Callable[[float, float], bool]] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return name, lambda v: compare[op](_number(v, f"test rule {rule!r}: {name} {v!r} is not a number"), bound)


def _number(text: str, message: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SplitRuleError(message) from None


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise LabelError(f"files layout: pattern {pattern!r} is not a valid regex ({error})") from error
    if "label" not in compiled.groupindex:
        raise LabelError(
            f"files layout: pattern {pattern!r} has no named group 'label'; write it as "
            r"(?P<label>...), e.g. '^(?P<label>\d)_(?P<group>[a-z]+)_'"
        )
    return compiled


@dataclasses.dataclass(frozen=True)
class _Clip:
    clip_id: str
    path: Path
    groups: dict[str, str]


def _scan(options: FilesOptions, root: Path, compiled: re.Pattern[str]) -> list[_Clip]:
    clips: list[_Clip] = []
    skipped = 0
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.suffix.lower() not in AUDIO_SUFFIXES or any(p.startswith(".") for p in relative.parts):
            continue
        if not path.is_file():
            logger.warning("files layout: %s is not a regular file; left out", path)
            continue
        clip_id = relative.with_suffix("").as_posix()
        subject = clip_id if options.match_on == "path" else path.stem
        found = compiled.search(subject)
        if found is None or not found["label"]:
            if options.unmatched == "skip":
                skipped += 1
                continue
            raise LabelError(
                f"{path}: {options.match_on} {subject!r} does not match pattern {options.pattern!r} "
                "(or its label is empty); set unmatched=skip to leave such files out"
            )
        groups = {k: v for k, v in found.groupdict().items() if v is not None}
        clips.append(_Clip(clip_id, path.resolve(), groups))
    if skipped:
        logger.info("files layout: %d audio files under %s do not match the pattern; left out", skipped, root)
    if not clips:
        raise LabelError(
            f"files layout: no audio file under {root} matches pattern {options.pattern!r} "
            f"(audio suffixes: {' '.join(sorted(AUDIO_SUFFIXES))})"
        )
    return clips


def _folds(options: FilesOptions, clips: list[_Clip], labels: Labels, has_group: bool) -> np.ndarray:
    if options.folds:
        groups = [c.groups.get("group", c.clip_id) for c in clips] if has_group else None
        try:
            return assign_folds(labels.positive, folds=options.folds, seed=options.seed, groups=groups)
        except ValueError as error:
            raise LabelError(f"files layout: folds={options.folds}: {error}") from error
    folds = np.full(len(clips), -1, dtype=np.int64)
    for i, clip in enumerate(clips):
        if "fold" in clip.groups:
            try:
                folds[i] = int(clip.groups["fold"])
            except ValueError:
                raise LabelError(f"{clip.path}: fold {clip.groups['fold']!r} is not an integer") from None
    return folds


def _splits(options: FilesOptions, clips: list[_Clip], names: set[str]) -> np.ndarray:
    if options.test is None:
        return np.array([options.split] * len(clips), dtype=object)
    name, selected = parse_split_rule(options.test, names)
    splits = np.array(["test" if selected(c.groups.get(name, "")) else "train" for c in clips], dtype=object)
    if "group" in names and name != "group":
        sides: dict[str, set[str]] = defaultdict(set)
        for clip, split in zip(clips, splits, strict=True):
            sides[clip.groups.get("group", "")].add(str(split))
        both = sorted(g for g, s in sides.items() if len(s) == 2)
        if both:
            logger.warning(
                "files layout: test rule %r puts %d groups on both sides (%s); a rule on 'group' "
                "keeps each group whole",
                options.test,
                len(both),
                ", ".join(both[:5]),
            )
    if not (splits == "train").any() or not (splits == "test").any():
        logger.warning("files layout: test rule %r leaves one split empty", options.test)
    return splits


@register_loader("files", FilesOptions)
def load_files(options: FilesOptions) -> Manifest:
    """Class (and fold, group) from named regex groups over file names; split by a rule."""
    root = Path(options.root).expanduser()
    if not root.is_dir():
        raise LabelError(f"files layout: root {root} is not a directory")
    compiled = _compile(options.pattern)
    names = set(compiled.groupindex)
    if options.test is not None:
        parse_split_rule(options.test, names)  # a bad rule fails before the folder is read
    clips = _scan(options, root, compiled)
    class_names = sorted({c.groups["label"] for c in clips}, key=_natural)
    labels = Labels.from_lists(
        [c.clip_id for c in clips], [[c.groups["label"]] for c in clips], class_names, source=options.source
    )
    labels = dataclasses.replace(labels, fold=_folds(options, clips, labels, "group" in names))
    return Manifest(
        labels=labels,
        audio_paths=np.array([str(c.path) for c in clips], dtype=object),
        splits=_splits(options, clips, names),
        name=root.name,
    )


def _natural(name: str) -> tuple[int, float, str]:
    """Numbers first in numeric order (``2`` before ``10``), then names."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)
