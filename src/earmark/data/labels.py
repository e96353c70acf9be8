"""Labels of a multi-label data set: which entries are positive, and which are known at all.

:class:`Labels` holds two boolean matrices over clips × classes: ``positive`` and ``annotated``.
An entry that is not annotated is *missing*; a strategy decides what a missing entry means, the
data layer never guesses. Positives-only data (AudioSet, last.fm) has ``annotated == positive``;
explicitly labeled data (OpenMIC, SONYC-UST) marks its negatives as annotated too.

Each clip also carries an id, a ``source`` (``curated``, ``noisy`` or ``unlabeled``), a fold
(``-1`` when the data set has none) and a duration in seconds (NaN when unknown).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from earmark.errors import EarmarkError

__all__ = ["MASK_MODES", "SOURCES", "LabelError", "LabelSummary", "Labels", "MaskMode"]

Source = Literal["curated", "noisy", "unlabeled"]
SOURCES: tuple[str, ...] = ("curated", "noisy", "unlabeled")
MaskMode = Literal["auto", "on", "off"]
MASK_MODES: tuple[str, ...] = ("auto", "on", "off")


class LabelError(EarmarkError):
    """Labels are inconsistent or an operation names an unknown clip, class, fold or source."""


@dataclasses.dataclass(frozen=True)
class LabelSummary:
    """Counts that describe a label set."""

    num_clips: int
    num_classes: int
    clips_per_source: dict[str, int]
    folds: list[int]
    positives_per_class: dict[str, int]
    annotated_per_class: dict[str, int]
    label_density: float  # positives per clip
    fraction_missing: float  # share of clip × class entries that are not annotated
    total_duration_seconds: float

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-safe data."""
        return dataclasses.asdict(self)


def _as_string_array(values: Iterable[object]) -> np.ndarray:
    return np.array([str(v) for v in values], dtype=object)


@dataclasses.dataclass(frozen=True, eq=False)
class Labels:
    """Clip × class label matrices with per-clip metadata.

    Attributes
    ----------
    clip_ids : (num_clips,) object array of str, unique.
    class_names : tuple of str, the column order.
    positive : (num_clips, num_classes) bool.
    annotated : (num_clips, num_classes) bool; every positive is annotated.
    source : (num_clips,) object array of ``"curated" | "noisy" | "unlabeled"``.
    fold : (num_clips,) int64, ``-1`` when unknown.
    duration_seconds : (num_clips,) float64, NaN when unknown.

    """

    clip_ids: np.ndarray
    class_names: tuple[str, ...]
    positive: np.ndarray
    annotated: np.ndarray
    source: np.ndarray
    fold: np.ndarray
    duration_seconds: np.ndarray

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "clip_ids", _as_string_array(self.clip_ids))
        set_(self, "class_names", tuple(str(c) for c in self.class_names))
        set_(self, "positive", np.asarray(self.positive, dtype=bool))
        set_(self, "annotated", np.asarray(self.annotated, dtype=bool))
        set_(self, "source", _as_string_array(self.source))
        set_(self, "fold", np.asarray(self.fold, dtype=np.int64))
        set_(self, "duration_seconds", np.asarray(self.duration_seconds, dtype=np.float64))
        self._validate()
        for array in (self.positive, self.annotated, self.clip_ids, self.source, self.fold):
            array.flags.writeable = False
        self.duration_seconds.flags.writeable = False

    def _validate(self) -> None:
        n, k = len(self.clip_ids), len(self.class_names)
        for name in ("positive", "annotated"):
            shape = getattr(self, name).shape
            if shape != (n, k):
                raise LabelError(f"{name} has shape {shape}, expected (clips, classes) = {(n, k)}")
        for name in ("source", "fold", "duration_seconds"):
            if getattr(self, name).shape != (n,):
                raise LabelError(f"{name} has shape {getattr(self, name).shape}, expected ({n},)")
        _check_unique(self.clip_ids, "clip id")
        _check_unique(np.array(self.class_names, dtype=object), "class name")
        if (self.positive & ~self.annotated).any():
            row, col = np.argwhere(self.positive & ~self.annotated)[0]
            raise LabelError(
                f"clip {self.clip_ids[row]!r} is positive for {self.class_names[col]!r} "
                "but that entry is not annotated"
            )
        bad = sorted(set(self.source.tolist()) - set(SOURCES))
        if bad:
            raise LabelError(f"unknown source {bad[0]!r}; valid sources: {', '.join(SOURCES)}")

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_lists(
        cls,
        clip_ids: Sequence[str],
        positives: Sequence[Iterable[str]],
        class_names: Sequence[str] | None = None,
        *,
        negatives: Sequence[Iterable[str]] | None = None,
        annotation: Literal["complete", "positives_only"] = "complete",
        source: Source | Sequence[str] = "curated",
        fold: int | Sequence[int] = -1,
        duration_seconds: float | Sequence[float] = float("nan"),
    ) -> Labels:
        """Labels from per-clip lists of class names.

        ``annotation="complete"`` makes every class not listed an explicit negative (single-label
        and fully annotated data); ``"positives_only"`` leaves it missing unless ``negatives``
        lists it. An unknown class name raises, naming the clip and the class.
        """
        if class_names is None:
            class_names = sorted({c for row in positives for c in row})
        index = {name: j for j, name in enumerate(class_names)}
        n = len(clip_ids)
        if len(positives) != n:
            raise LabelError(f"{len(positives)} label lists for {n} clips")
        positive = np.zeros((n, len(class_names)), dtype=bool)
        annotated = np.full_like(positive, annotation == "complete")
        for i, clip in enumerate(clip_ids):
            for name in positives[i]:
                positive[i, _lookup(index, name, clip)] = True
            if negatives is not None:
                for name in negatives[i]:
                    annotated[i, _lookup(index, name, clip)] = True
        return cls(
            clip_ids=np.asarray(clip_ids, dtype=object),
            class_names=tuple(class_names),
            positive=positive,
            annotated=annotated | positive,
            source=_broadcast(source, n),
            fold=_broadcast(fold, n),
            duration_seconds=_broadcast(duration_seconds, n),
        )

    # ----------------------------------------------------------------- properties
    @property
    def num_clips(self) -> int:
        """Number of clips."""
        return len(self.clip_ids)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def missing(self) -> np.ndarray:
        """``(clips, classes)`` bool: entries that are not annotated."""
        return ~self.annotated

    @property
    def positives_only(self) -> bool:
        """True when only positives are annotated (AudioSet, last.fm).

        Every other entry is then an implicit negative, which evaluation counts as a negative
        rather than skipping it (see :meth:`evaluation_mask`).
        """
        return bool((self.annotated == self.positive).all() and not self.annotated.all())

    def evaluation_mask(self, mode: MaskMode = "auto") -> np.ndarray | None:
        """The entries evaluation counts: the one rule every metric of these labels follows.

        Parameters
        ----------
        mode
            ``"auto"`` (the rule): complete labels and positives-only labels (AudioSet, last.fm,
            whose implicit negatives count as negatives, as in AudioSet's own evaluation) count
            every entry, a missing one as a negative; partly annotated labels (OpenMIC,
            SONYC-UST) count their annotated entries only. ``"on"``: annotated entries only.
            ``"off"``: every entry, missing = negative.

        Returns
        -------
        (clips, classes) bool mask of the entries that count, or None when every entry counts.

        Examples
        --------
        >>> labels = Labels.from_lists(["a", "b"], [["dog"], ["cat"]], negatives=[["cat"], []],
        ...                            annotation="positives_only")
        >>> labels.evaluation_mask()
        array([[ True,  True],
               [ True, False]])
        >>> labels.evaluation_mask("off") is None
        True

        """
        if mode not in MASK_MODES:
            raise LabelError(f"unknown mask mode {mode!r}; valid modes: {', '.join(MASK_MODES)}")
        if mode == "off" or (mode == "auto" and (self.annotated.all() or self.positives_only)):
            return None
        return self.annotated

    @property
    def negative(self) -> np.ndarray:
        """``(clips, classes)`` bool: explicit (annotated) negatives."""
        return np.asarray(self.annotated & ~self.positive)

    def __len__(self) -> int:
        return self.num_clips

    def __repr__(self) -> str:
        return f"Labels({self.num_clips} clips × {self.num_classes} classes)"

    def equals(self, other: Labels) -> bool:
        """True when every array and name is the same (durations compared NaN-aware)."""
        return (
            np.array_equal(self.clip_ids, other.clip_ids)
            and self.class_names == other.class_names
            and np.array_equal(self.positive, other.positive)
            and np.array_equal(self.annotated, other.annotated)
            and np.array_equal(self.source, other.source)
            and np.array_equal(self.fold, other.fold)
            and np.allclose(self.duration_seconds, other.duration_seconds, equal_nan=True)
        )

    def class_index(self, name: str) -> int:
        """Column of ``name``; an unknown class raises with the vocabulary's size."""
        try:
            return self.class_names.index(name)
        except ValueError:
            raise LabelError(f"unknown class {name!r} (vocabulary of {self.num_classes})") from None

    # ----------------------------------------------------------------- selection
    def take(self, rows: np.ndarray | Sequence[int]) -> Labels:
        """The clips at integer positions ``rows`` (or a boolean mask), in that order."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if rows.shape != (self.num_clips,):
                raise LabelError(f"mask of shape {rows.shape} for {self.num_clips} clips")
            rows = np.flatnonzero(rows)
        return dataclasses.replace(
            self,
            clip_ids=self.clip_ids[rows],
            positive=self.positive[rows],
            annotated=self.annotated[rows],
            source=self.source[rows],
            fold=self.fold[rows],
            duration_seconds=self.duration_seconds[rows],
        )

    def select(
        self,
        *,
        clip_ids: Iterable[str] | None = None,
        folds: Iterable[int] | None = None,
        sources: Iterable[str] | None = None,
        exclude_folds: Iterable[int] | None = None,
    ) -> Labels:
        """Clips matching every filter given; unknown clip ids, folds or sources raise."""
        keep = np.ones(self.num_clips, dtype=bool)
        if clip_ids is not None:
            wanted = [str(c) for c in clip_ids]
            position = {c: i for i, c in enumerate(self.clip_ids.tolist())}
            absent = [c for c in wanted if c not in position]
            if absent:
                raise LabelError(f"unknown clip id {absent[0]!r} ({len(absent)} not in the labels)")
            return self.take(np.array([position[c] for c in wanted], dtype=np.int64)).select(
                folds=folds, sources=sources, exclude_folds=exclude_folds
            )
        if folds is not None:
            keep &= np.isin(self.fold, self._known_folds(folds))
        if exclude_folds is not None:
            keep &= ~np.isin(self.fold, self._known_folds(exclude_folds))
        if sources is not None:
            wanted_sources = list(sources)
            bad = [s for s in wanted_sources if s not in SOURCES]
            if bad:
                raise LabelError(f"unknown source {bad[0]!r}; valid sources: {', '.join(SOURCES)}")
            keep &= np.isin(self.source, np.array(wanted_sources, dtype=object))
        return self.take(keep)

    def _known_folds(self, folds: Iterable[int]) -> np.ndarray:
        wanted = np.array(sorted({int(f) for f in folds}), dtype=np.int64)
        present = set(np.unique(self.fold).tolist())
        unknown = [int(f) for f in wanted if int(f) not in present]
        if unknown:
            raise LabelError(f"unknown fold {unknown[0]}; folds present: {sorted(present)}")
        return wanted

    def with_classes(self, class_names: Sequence[str]) -> Labels:
        """Re-index onto another vocabulary: new classes are missing, dropped ones vanish."""
        class_names = tuple(class_names)
        own = {name: j for j, name in enumerate(self.class_names)}
        positive = np.zeros((self.num_clips, len(class_names)), dtype=bool)
        annotated = np.zeros_like(positive)
        for j, name in enumerate(class_names):
            if name in own:
                positive[:, j] = self.positive[:, own[name]]
                annotated[:, j] = self.annotated[:, own[name]]
        return dataclasses.replace(self, class_names=class_names, positive=positive, annotated=annotated)

    def with_matrices(
        self, *, positive: np.ndarray | None = None, annotated: np.ndarray | None = None
    ) -> Labels:
        """The same clips with replaced ``positive`` and / or ``annotated`` matrices."""
        return dataclasses.replace(
            self,
            positive=self.positive if positive is None else positive,
            annotated=self.annotated if annotated is None else annotated,
        )

    def with_source(self, source: Source) -> Labels:
        """The same labels with every clip's source set to ``source``."""
        return dataclasses.replace(self, source=_broadcast(source, self.num_clips))

    @staticmethod
    def merge(*parts: Labels) -> Labels:
        """Concatenate label sets over the union of their classes.

        Classes are ordered as first seen; an entry for a class outside a part's vocabulary
        becomes missing. Duplicated clip ids across parts raise.
        """
        if not parts:
            raise LabelError("merge needs at least one label set")
        names: list[str] = []
        for part in parts:
            names.extend(n for n in part.class_names if n not in names)
        aligned = [p.with_classes(names) for p in parts]
        merged = Labels(
            clip_ids=np.concatenate([p.clip_ids for p in aligned]),
            class_names=tuple(names),
            positive=np.concatenate([p.positive for p in aligned]),
            annotated=np.concatenate([p.annotated for p in aligned]),
            source=np.concatenate([p.source for p in aligned]),
            fold=np.concatenate([p.fold for p in aligned]),
            duration_seconds=np.concatenate([p.duration_seconds for p in aligned]),
        )
        return merged

    # ----------------------------------------------------------------- summary
    def summary(self) -> LabelSummary:
        """Clips, classes, positives per class, density and the fraction missing."""
        entries = self.positive.size
        sources, counts = np.unique(self.source, return_counts=True)
        durations = self.duration_seconds[np.isfinite(self.duration_seconds)]
        return LabelSummary(
            num_clips=self.num_clips,
            num_classes=self.num_classes,
            clips_per_source={str(s): int(c) for s, c in zip(sources, counts, strict=True)},
            folds=sorted(int(f) for f in np.unique(self.fold)),
            positives_per_class=dict(zip(self.class_names, self.positive.sum(0).tolist(), strict=True)),
            annotated_per_class=dict(zip(self.class_names, self.annotated.sum(0).tolist(), strict=True)),
            label_density=float(self.positive.sum() / max(self.num_clips, 1)),
            fraction_missing=float((~self.annotated).sum() / entries) if entries else 0.0,
            total_duration_seconds=float(durations.sum()),
        )


def _check_unique(values: np.ndarray, what: str) -> None:
    if len(values) == 0:
        return
    uniques, counts = np.unique(values.astype(str), return_counts=True)
    if (counts > 1).any():
        dups = uniques[counts > 1]
        raise LabelError(f"duplicated {what} {str(dups[0])!r} ({len(dups)} duplicated in all)")


def _lookup(index: dict[str, int], name: str, clip: str) -> int:
    if name not in index:
        raise LabelError(f"clip {clip!r} names unknown class {name!r}")
    return index[name]


def _broadcast(value: object, n: int) -> np.ndarray:
    if isinstance(value, str | int | float):
        return np.array([value] * n, dtype=object if isinstance(value, str) else None)
    array = np.asarray(value)
    if array.shape != (n,):
        raise LabelError(f"per-clip values of shape {array.shape} for {n} clips")
    return array
