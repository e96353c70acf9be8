"""The predictions file: scores of clips × classes.

Training and prediction write it; evaluation reads it. One format, ``.npz`` (numpy archive, no
pickles), holding:

- ``clip_ids`` (clips,) str and ``class_names`` (classes,) str;
- ``scores`` (clips, classes) float32, finite;
- ``frontend_hash`` the spec's front-end hash (``""`` when unknown) and ``format_version``.

Files are written atomically (a temporary file renamed into place). A CSV export
(``clip_id`` then one column per class) is written by :meth:`Predictions.write_csv` and can be
read back, without the front-end hash; its clip ids and class names are spreadsheet-safe
(:func:`~earmark.io.escape_cell`), its scores plain numbers, and a byte-order mark is accepted.
"""

from __future__ import annotations

import csv
import dataclasses
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from earmark.data.labels import Labels
from earmark.errors import EarmarkError
from earmark.io import CsvWriter, atomic_open, escape_cell, escape_cells, unescape_cell
from earmark.spec import SpecMismatchError, TaggingSpec

__all__ = ["FORMAT_VERSION", "Predictions", "PredictionsError", "read_predictions"]

FORMAT_VERSION = 1
_CLIP_COLUMN = "clip_id"


class PredictionsError(EarmarkError):
    """A predictions file or array is malformed, or does not match the labels or spec."""


@dataclasses.dataclass(frozen=True, eq=False)
class Predictions:
    """Scores of clips × classes with their names and the front-end hash that produced them.

    Attributes
    ----------
    clip_ids
        (clips,) object array of str, unique.
    class_names
        tuple of str, the column order, unique.
    scores
        (clips, classes) float32, finite; higher means more likely.
    frontend_hash
        hash of the spec's front-end config, ``""`` when unknown.

    """

    clip_ids: np.ndarray
    class_names: tuple[str, ...]
    scores: np.ndarray
    frontend_hash: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "clip_ids", np.array([str(c) for c in self.clip_ids], dtype=object))
        set_(self, "class_names", tuple(str(c) for c in self.class_names))
        set_(self, "scores", np.asarray(self.scores, dtype=np.float32))
        set_(self, "frontend_hash", str(self.frontend_hash))
        self._validate()
        self.scores.flags.writeable = False
        self.clip_ids.flags.writeable = False

    def _validate(self) -> None:
        n, k = len(self.clip_ids), len(self.class_names)
        if self.scores.shape != (n, k):
            raise PredictionsError(
                f"scores have shape {self.scores.shape}, expected (clips, classes) = {(n, k)}"
            )
        _check_unique(self.clip_ids.tolist(), "clip id")
        _check_unique(list(self.class_names), "class name")
        bad = ~np.isfinite(self.scores)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise PredictionsError(
                f"score of clip {self.clip_ids[row]!r}, class {self.class_names[column]!r} is "
                f"{self.scores[row, column]} ({int(bad.sum())} non-finite scores in all)"
            )

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_spec(
        cls, spec: TaggingSpec, clip_ids: Sequence[str] | np.ndarray, scores: np.ndarray
    ) -> Predictions:
        """Predictions whose columns are the spec's classes, carrying its front-end hash."""
        return cls(np.asarray(clip_ids, dtype=object), spec.class_names, scores, spec.frontend_hash)

    @property
    def num_clips(self) -> int:
        """Number of clips."""
        return len(self.clip_ids)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def __repr__(self) -> str:
        return f"Predictions({self.num_clips} clips × {self.num_classes} classes)"

    # ----------------------------------------------------------------- files
    def write(self, path: str | Path) -> Path:
        """Write to ``path``: ``.npz`` (the full format) or ``.csv`` (an export); atomic."""
        path = Path(path)
        if path.suffix == ".csv":
            return self.write_csv(path)
        if path.suffix != ".npz":
            raise PredictionsError(f"{path}: a predictions file must end in .npz (or .csv)")
        with atomic_open(path, "wb") as handle:
            np.savez(
                handle,
                format_version=np.array(FORMAT_VERSION),
                clip_ids=self.clip_ids.astype(str),
                class_names=np.array(self.class_names, dtype=str),
                scores=self.scores,
                frontend_hash=np.array(self.frontend_hash),
            )
        return path

    def write_csv(self, path: str | Path) -> Path:
        """Export as CSV: ``clip_id`` then one column per class (float32 written exactly).

        Clip ids and class names are written spreadsheet-safe (:func:`~earmark.io.escape_cell`).
        """
        path = Path(path)
        if _CLIP_COLUMN in self.class_names:
            raise PredictionsError(f"class name {_CLIP_COLUMN!r} collides with the clip id column")
        cells = np.char.mod("%.9g", self.scores)
        with atomic_open(path, "w", newline="") as handle:
            writer = CsvWriter(handle)
            writer.writerow([_CLIP_COLUMN, *escape_cells(self.class_names)])
            for clip, row in zip(self.clip_ids.tolist(), cells.tolist(), strict=True):
                writer.writerow([escape_cell(clip), *row], numeric_from=1)
        return path

    @classmethod
    def read(cls, path: str | Path) -> Predictions:
        """Read a file written by :meth:`write` or :meth:`write_csv`."""
        path = Path(path)
        if not path.is_file():
            raise PredictionsError(f"predictions file not found: {path}")
        if path.suffix == ".csv":
            return _read_csv(path)
        if path.suffix != ".npz":
            raise PredictionsError(f"{path}: a predictions file must end in .npz or .csv")
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["format_version"])
                if version != FORMAT_VERSION:
                    raise PredictionsError(
                        f"predictions format version {version}; this earmark reads version {FORMAT_VERSION}"
                    )
                return cls(
                    clip_ids=data["clip_ids"].astype(object),
                    class_names=tuple(data["class_names"].tolist()),
                    scores=data["scores"],
                    frontend_hash=str(data["frontend_hash"]),
                )
        except KeyError as error:
            raise PredictionsError(f"{path}: not a predictions file (missing array {error})") from None
        except PredictionsError as error:
            raise PredictionsError(f"{path}: {error}") from None
        except (EOFError, OSError, ValueError, zipfile.BadZipFile) as error:  # empty, cut or foreign
            raise PredictionsError(f"{path}: not a readable .npz predictions file ({error})") from None

    # ----------------------------------------------------------------- matching
    def check_spec(self, spec: TaggingSpec) -> None:
        """Raise :class:`SpecMismatchError` unless the classes and front-end hash match ``spec``."""
        problems = []
        if self.class_names != spec.class_names:
            problems.append("the class names or their order differ")
        if self.frontend_hash and self.frontend_hash != spec.frontend_hash:
            problems.append(f"front-end hash {self.frontend_hash} vs {spec.frontend_hash}")
        if problems:
            raise SpecMismatchError("predictions do not match the spec: " + "; ".join(problems))

    def take(self, rows: np.ndarray | Sequence[int]) -> Predictions:
        """Select the clips at integer positions ``rows``, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return dataclasses.replace(self, clip_ids=self.clip_ids[rows], scores=self.scores[rows])

    def align(self, labels: Labels, *, allow_subset: bool = True) -> tuple[Predictions, Labels]:
        """Match these predictions to ``labels`` by clip id and class name.

        Parameters
        ----------
        labels
            The true labels; every predicted clip must be among them, and the class names must
            be the same set (in any order).
        allow_subset
            Accept labels for clips that have no prediction (they are left out, e.g. labels of
            every fold and predictions of the test fold). When False, that is an error.

        Returns
        -------
        predictions, labels
            Both in the labels' clip order (restricted to predicted clips) and class order.

        Raises
        ------
        PredictionsError
            Naming the first clip or class that does not match and how many do not.

        """
        ours, theirs = set(self.class_names), set(labels.class_names)
        if ours != theirs:
            raise PredictionsError(
                "predictions and labels have different classes: only in predictions "
                f"{sorted(ours - theirs)[:5]}, only in labels {sorted(theirs - ours)[:5]}"
            )
        row_of = {clip: i for i, clip in enumerate(self.clip_ids.tolist())}
        label_ids = labels.clip_ids.tolist()
        in_labels = set(label_ids)
        unknown = [clip for clip in self.clip_ids.tolist() if clip not in in_labels]
        if unknown:
            raise PredictionsError(
                f"clip {unknown[0]!r} of the predictions is not in the labels "
                f"({len(unknown)} of {self.num_clips} predicted clips are not)"
            )
        has_prediction = np.array([clip in row_of for clip in label_ids], dtype=bool)
        if not allow_subset and not has_prediction.all():
            missing = [clip for clip, kept in zip(label_ids, has_prediction, strict=True) if not kept]
            raise PredictionsError(
                f"clip {missing[0]!r} of the labels has no prediction "
                f"({len(missing)} of {labels.num_clips} labeled clips have none)"
            )
        kept_labels = labels.take(np.flatnonzero(has_prediction))
        rows = np.array([row_of[clip] for clip in kept_labels.clip_ids.tolist()], dtype=np.int64)
        columns = np.array([self.class_names.index(name) for name in labels.class_names], dtype=np.int64)
        aligned = Predictions(
            kept_labels.clip_ids,
            labels.class_names,
            self.scores[rows][:, columns],
            self.frontend_hash,
        )
        return aligned, kept_labels


def read_predictions(path: str | Path) -> Predictions:
    """Read a predictions file (``.npz`` or ``.csv``); see :meth:`Predictions.read`."""
    return Predictions.read(path)


def _check_unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise PredictionsError(f"duplicated {what} {value!r}")
        seen.add(value)


def _read_csv(path: Path) -> Predictions:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or header[0] != _CLIP_COLUMN:
            raise PredictionsError(f"{path}: the header must start with {_CLIP_COLUMN!r}")
        rows = list(reader)
    width = len(header)
    for line, row in enumerate(rows, start=2):
        if len(row) != width:
            raise PredictionsError(f"{path}, line {line}: {len(row)} cells, the header has {width}")
    try:
        scores = np.array([row[1:] for row in rows], dtype=np.float64).reshape(len(rows), width - 1)
    except ValueError as error:
        raise PredictionsError(f"{path}: a score is not a number ({error})") from None
    try:
        clip_ids = np.array([unescape_cell(row[0]) for row in rows], dtype=object)
        return Predictions(clip_ids, tuple(unescape_cell(name) for name in header[1:]), scores)
    except PredictionsError as error:
        raise PredictionsError(f"{path}: {error}") from None


#: where a run directory keeps a split's predictions (a training run), else a single file
RUN_PREDICTIONS = ("predictions/{split}.npz", "predictions.npz")


def read_run_predictions(path: str | Path, *, split: str = "test") -> Predictions:
    """Predictions of a run directory (its ``predictions/<split>.npz``) or of a predictions file."""
    path = Path(path)
    if not path.is_dir():
        return Predictions.read(path)
    names = [name.format(split=split) for name in RUN_PREDICTIONS]
    for name in names:
        if (path / name).is_file():
            return Predictions.read(path / name)
    raise PredictionsError(f"run directory {path} holds none of {', '.join(names)}")
