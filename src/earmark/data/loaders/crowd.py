"""Crowd judgments as a noisy label source: what workers heard, not what the clip is.

The judgments file has one row per worker judgment, with at least the columns ``Worker
prediction``, ``Ground truth`` and ``Recording`` (the released ESC-10 / ESC-50 crowd files also
carry ``Task ID``, ``Worker trust``, ``Worker ID (anonymized)``, ``Country``, ``Region``, ``City``
and ``Correct``). ``Recording`` is the clip's stem, possibly with an audio suffix
(``1-100032-A`` or ``1-100032-A.ogg``). The ground truth only sets the default vocabulary; the
labels come from the workers' predictions, by ``mode``:

- ``one_worker``: one judgment per clip, drawn at random: the label as one worker gave it;
- ``majority``: the most frequent prediction (ties drawn at random);
- ``all``: every class any worker named is positive (multi-label).

The draws use a generator seeded from ``seed`` and the clip id, so a clip's label does not
depend on which other clips are present. Labels are complete (a worker chose one class out of
all of them), and every clip's source is ``noisy``.

Vocabulary: the ground-truth names as written in the file (sorted), or the names listed in
``class_names`` (one per line). Crowd names are matched onto it after normalisation
(lower case, punctuation and ``_`` as spaces): by equal text, by equal word sets
(``Fire crackling`` = ``crackling_fire``), both again without a parenthesised part
(``Insects (flying)`` = ``insects``), and last by the one vocabulary name whose words contain
the crowd name's (``Door knock`` -> ``door_wood_knock``) or are contained in them.
``class_aliases`` maps a crowd name to a vocabulary name explicitly; a crowd name that matches
nothing, or several names at once, raises.

Audio is searched recursively under ``audio_root`` for ``<stem>.<audio suffix>``, or for
``<stem>-<n>.<audio suffix>`` (the current ESC-50 release appends the class number to the
stems the crowd saw). The clip id is the audio file's stem, so it matches the clean loader's
ids. Clips whose audio is absent are skipped; the count is logged at INFO level on
``earmark.data.loaders``.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from earmark.config import ConfigError, NonNegativeInt, check_ranges
from earmark.data.labels import LabelError, Labels
from earmark.data.loaders._common import logger, read_csv_rows, read_name_list
from earmark.data.loaders.base import register_loader
from earmark.data.manifest import Manifest
from earmark.features.audio import AUDIO_SUFFIXES

__all__ = [
    "CROWD_COLUMNS",
    "CrowdOptions",
    "load_crowd",
    "match_class_names",
    "normalise_class_name",
]

CROWD_COLUMNS = ("Worker prediction", "Ground truth", "Recording")


@dataclasses.dataclass(frozen=True)
class CrowdOptions:
    r"""Options of the crowd-judgment loader.

    Attributes
    ----------
    judgments : the crowd judgments CSV.
    audio_root : folder searched recursively for the clips' audio files.
    mode : how a clip's judgments become its labels: ``"one_worker"`` (one drawn at random),
        ``"majority"`` (the most frequent) or ``"all"`` (every class named, multi-label).
    seed : seeds the draws of ``one_worker`` and of majority ties.
    class_names : a file listing the vocabulary, one per line; None takes the ground truths.
    class_aliases : crowd name -> vocabulary name, for names the automatic matching misses.
    fold_pattern : a regex on the audio file name whose first group is the fold (ESC: ``^(\d+)-``).
    split : the feature-store split every clip goes to.

    """

    judgments: str
    audio_root: str
    mode: Literal["one_worker", "majority", "all"] = "one_worker"
    seed: NonNegativeInt = 0
    class_names: str | None = None
    class_aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    fold_pattern: str | None = None
    split: str = "all"

    def __post_init__(self) -> None:
        check_ranges(self, key="crowd")


def normalise_class_name(name: str) -> str:
    """Lower case, with every run of punctuation, ``_`` or space as one space."""
    return re.sub(r"[^0-9a-z]+", " ", name.lower()).strip()


def _variants(name: str) -> list[str]:
    plain = re.sub(r"\([^)]*\)", " ", name)
    return [normalise_class_name(name), normalise_class_name(plain)]


def _match_one(name: str, vocabulary: Sequence[str]) -> str:
    texts = {v: normalise_class_name(v) for v in vocabulary}
    words = {v: frozenset(texts[v].split()) for v in vocabulary}
    variants = list(dict.fromkeys(_variants(name)))
    for text in variants:
        tokens = frozenset(text.split())
        for found in (
            [v for v in vocabulary if texts[v] == text],
            [v for v in vocabulary if words[v] == tokens],
        ):
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise LabelError(f"crowd class {name!r} matches several classes: {', '.join(found)}")
    tokens = frozenset(variants[-1].split())
    found = [v for v in vocabulary if tokens and (tokens < words[v] or words[v] < tokens)]
    if len(found) == 1:
        return found[0]
    hint = f" (candidates: {', '.join(found)})" if found else ""
    raise LabelError(
        f"crowd class {name!r} matches no single class of the vocabulary{hint}; "
        "map it with class_aliases or list the vocabulary in class_names"
    )


def match_class_names(
    names: Sequence[str], vocabulary: Sequence[str], aliases: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Each crowd class name mapped onto one vocabulary name (see the module for the rules)."""
    aliases = dict(aliases or {})
    mapping: dict[str, str] = {}
    for name in names:
        if name in aliases:
            if aliases[name] not in vocabulary:
                raise ConfigError(
                    f"class_aliases: {name!r} -> {aliases[name]!r}, which is not in the vocabulary"
                )
            mapping[name] = aliases[name]
        else:
            mapping[name] = _match_one(name, vocabulary)
    return mapping


@dataclasses.dataclass
class _Recording:
    predictions: list[str]
    ground_truth: str
    line: int


def _read_judgments(path: Path) -> dict[str, _Recording]:
    _, rows = read_csv_rows(path, CROWD_COLUMNS, what="crowd judgments")
    recordings: dict[str, _Recording] = {}
    for line, cells in rows:
        name = cells["Recording"]
        stem = name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in AUDIO_SUFFIXES else name
        if not stem or not cells["Worker prediction"] or not cells["Ground truth"]:
            raise LabelError(f"{path}, line {line}: empty Recording, Worker prediction or Ground truth")
        entry = recordings.setdefault(stem, _Recording([], cells["Ground truth"], line))
        if entry.ground_truth != cells["Ground truth"]:
            raise LabelError(
                f"{path}, line {line}: recording {stem!r} has ground truth "
                f"{cells['Ground truth']!r} here but {entry.ground_truth!r} on line {entry.line}"
            )
        entry.predictions.append(cells["Worker prediction"])
    if not recordings:
        raise LabelError(f"{path}: no judgments")
    return recordings


def _audio_index(root: Path) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Audio files by stem, and by stem without a trailing ``-<number>``."""
    exact: dict[str, list[Path]] = collections.defaultdict(list)
    trimmed: dict[str, list[Path]] = collections.defaultdict(list)
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
            exact[path.stem].append(path)
            short = re.sub(r"-\d+$", "", path.stem)
            if short != path.stem:
                trimmed[short].append(path)
    return exact, trimmed


def _find_audio(stem: str, exact: dict[str, list[Path]], trimmed: dict[str, list[Path]]) -> Path | None:
    found = exact.get(stem) or trimmed.get(stem) or []
    if len(found) > 1:
        raise LabelError(
            f"recording {stem!r} matches {len(found)} audio files ({found[0]}, {found[1]}…); "
            "point audio_root at one copy of the audio"
        )
    return found[0] if found else None


def _choose(predictions: list[str], mode: str, rng: np.random.Generator) -> list[str]:
    if mode == "all":
        return sorted(set(predictions))
    if mode == "one_worker":
        return [predictions[int(rng.integers(len(predictions)))]]
    counts = collections.Counter(predictions)
    top = max(counts.values())
    tied = sorted(name for name, count in counts.items() if count == top)
    return [tied[int(rng.integers(len(tied)))] if len(tied) > 1 else tied[0]]


def _fold(name: str, pattern: re.Pattern[str] | None) -> int:
    if pattern is None:
        return -1
    found = pattern.search(name)
    if not found:
        raise LabelError(f"{name}: file name does not match fold_pattern {pattern.pattern!r}")
    return int(found.group(1))


@register_loader("crowd", CrowdOptions)
def load_crowd(options: CrowdOptions) -> Manifest:
    """Crowd judgments (ESC-10 / ESC-50 style) as a noisy single- or multi-label source."""
    path = Path(options.judgments).expanduser()
    root = Path(options.audio_root).expanduser()
    if not root.is_dir():
        raise LabelError(f"crowd layout: audio_root {root} is not a directory")
    try:
        fold_re = re.compile(options.fold_pattern) if options.fold_pattern else None
    except re.error as error:
        raise ConfigError(f"fold_pattern: invalid regular expression ({error})") from error
    recordings = _read_judgments(path)
    if options.class_names is not None:
        vocabulary = read_name_list(options.class_names, "class list")
    else:
        vocabulary = sorted({r.ground_truth for r in recordings.values()})
    crowd_names = sorted({n for r in recordings.values() for n in (*r.predictions, r.ground_truth)})
    try:
        mapping = match_class_names(crowd_names, vocabulary, options.class_aliases)
    except LabelError as error:
        raise LabelError(f"{path}: {error}") from error
    exact, trimmed = _audio_index(root)
    clip_ids: list[str] = []
    positives: list[list[str]] = []
    paths: list[Path] = []
    for stem in sorted(recordings):
        audio = _find_audio(stem, exact, trimmed)
        if audio is None:
            continue
        rng = np.random.default_rng([options.seed, zlib.crc32(stem.encode("utf-8"))])
        chosen = _choose(recordings[stem].predictions, options.mode, rng)
        clip_ids.append(audio.stem)
        positives.append(sorted({mapping[name] for name in chosen}))
        paths.append(audio.resolve())
    skipped = len(recordings) - len(clip_ids)
    if not clip_ids:
        raise LabelError(
            f"crowd layout: none of the {len(recordings)} recordings of {path} has audio under {root}"
        )
    if skipped:
        logger.info(
            "crowd: %d of %d recordings have no audio under %s and were skipped",
            skipped,
            len(recordings),
            root,
        )
    labels = Labels.from_lists(
        clip_ids,
        positives,
        vocabulary,
        source="noisy",
        fold=[_fold(p.name, fold_re) for p in paths],
    )
    return Manifest.single_split(labels, paths, split=options.split, name=f"crowd-{options.mode}")
