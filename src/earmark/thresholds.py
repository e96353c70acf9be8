"""Per-class decision thresholds: tuned on a validation split, stored in a run, read by predict.

A run's ``thresholds.json`` holds one threshold per class, the split they were tuned on and
the validation F1 before and after. They are tuned only on validation predictions:
:func:`tune_thresholds` refuses a split named ``test`` and predictions that share clips with
the run's test split, so a test figure never sees thresholds chosen on itself.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from earmark.data.labels import Labels, MaskMode
from earmark.errors import EarmarkError
from earmark.io import write_text_atomic
from earmark.metrics import f1_macro, tune_f1_thresholds
from earmark.predictions import Predictions

__all__ = [
    "THRESHOLDS_FILE",
    "Thresholds",
    "ThresholdsError",
    "read_thresholds",
    "run_thresholds",
    "tune_thresholds",
]

THRESHOLDS_FILE = "thresholds.json"
#: split names thresholds are never tuned on
TEST_SPLITS = ("test", "eval", "evaluation")


class ThresholdsError(EarmarkError):
    """A thresholds file is malformed, does not match the classes, or was asked of a test split."""


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """One decision threshold per class (``score >= threshold`` means present).

    Attributes
    ----------
    class_names
        The classes, in the order of ``values``.
    values
        ``(classes,)`` float64 probabilities.
    split
        The split they were tuned on (``""`` when given by hand).
    figures
        What tuning measured, e.g. ``{"f1_macro_at_0.5": ..., "f1_macro_tuned": ...}``.

    """

    class_names: tuple[str, ...]
    values: np.ndarray
    split: str = ""
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.shape != (len(self.class_names),):
            raise ThresholdsError(f"{values.shape[0]} thresholds for {len(self.class_names)} classes")
        if not (np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()):
            raise ThresholdsError("thresholds must be probabilities in [0, 1]")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "class_names", tuple(self.class_names))

    def for_classes(self, class_names: Sequence[str], *, what: str = "the thresholds") -> np.ndarray:
        """``(classes,)`` thresholds in the order of ``class_names``; other classes raise."""
        if tuple(class_names) != self.class_names:
            missing = sorted(set(class_names) - set(self.class_names))
            extra = sorted(set(self.class_names) - set(class_names))
            if missing or extra:
                raise ThresholdsError(
                    f"{what} name other classes than the model (missing {missing[:5]}, extra {extra[:5]})"
                )
        index = {name: i for i, name in enumerate(self.class_names)}
        return self.values[[index[name] for name in class_names]]

    def write(self, path: str | Path) -> Path:
        """Write the JSON file atomically; returns its path."""
        path = Path(path)
        data = {
            "split": self.split,
            "thresholds": dict(zip(self.class_names, self.values.round(6).tolist(), strict=True)),
            "figures": self.figures,
        }
        write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False))
        return path


def read_thresholds(path: str | Path) -> Thresholds:
    """Read a thresholds file written by :meth:`Thresholds.write` (or ``{"thresholds": {class: t}}``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ThresholdsError(f"{path}: not valid JSON ({error})") from None
    table = data.get("thresholds") if isinstance(data, dict) else None
    if not isinstance(table, dict) or not table:
        raise ThresholdsError(f"{path}: needs a 'thresholds' object of class name → threshold")
    try:
        values = np.array([float(v) for v in table.values()])
    except (TypeError, ValueError):
        raise ThresholdsError(f"{path}: every threshold must be a number") from None
    try:
        return Thresholds(tuple(table), values, str(data.get("split", "")), dict(data.get("figures", {})))
    except ThresholdsError as error:
        raise ThresholdsError(f"{path}: {error}") from None


def run_thresholds(run: str | Path) -> Thresholds | None:
    """The thresholds tuned for run directory ``run``, or None when it has none."""
    path = Path(run) / THRESHOLDS_FILE
    return read_thresholds(path) if Path(run).is_dir() and path.is_file() else None


def tune_thresholds(
    predictions: Predictions,
    labels: Labels,
    *,
    split: str,
    mask: MaskMode = "auto",
    test_predictions: Predictions | None = None,
) -> Thresholds:
    """Per-class thresholds maximising F1 on validation ``predictions`` (see ``tune_f1_thresholds``).

    Parameters
    ----------
    predictions
        Validation scores of some labeled clips.
    labels
        Their labels.
    split
        The split's name; a test split (``test``, ``eval``, ``evaluation``) is refused.
    mask
        Which entries count (:meth:`Labels.evaluation_mask`).
    test_predictions
        The run's test predictions, if any: sharing a clip with them is refused.

    Raises
    ------
    ThresholdsError
        For a test split, or validation clips that are also test clips.

    """
    if split.lower() in TEST_SPLITS:
        raise ThresholdsError(
            f"thresholds are never tuned on the {split!r} split: tune them on validation predictions "
            "(train with a validation split, e.g. data.valid_fraction=0.2)"
        )
    if test_predictions is not None:
        shared = sorted(set(predictions.clip_ids.tolist()) & set(test_predictions.clip_ids.tolist()))
        if shared:
            raise ThresholdsError(
                f"{len(shared)} of these clips are in the run's test split (e.g. {shared[:3]}); "
                "thresholds are never tuned on test clips"
            )
    aligned, kept = predictions.align(labels)
    known = kept.evaluation_mask(mask)
    values = tune_f1_thresholds(kept.positive, aligned.scores, mask=known)
    figures = {
        "clips": int(kept.num_clips),
        "f1_macro_at_0.5": f1_macro(kept.positive, aligned.scores, thresholds=0.5, mask=known),
        "f1_macro_tuned": f1_macro(kept.positive, aligned.scores, thresholds=values, mask=known),
    }
    return Thresholds(kept.class_names, np.clip(values, 0.0, 1.0), split, figures)


def thresholded_figures(evaluation: Any, thresholds: Thresholds) -> dict[str, Any]:
    """The thresholded metrics of an evaluation at per-class ``thresholds``, beside its own.

    ``evaluation`` is an :class:`earmark.report.Evaluation` (aligned predictions, labels and
    the mask of the entries that count).
    """
    from earmark.metrics import UndefinedMetricError, f1_per_class, openmic_paper_f1

    labels, scores, known = evaluation.labels, evaluation.predictions.scores, evaluation.mask
    values = thresholds.for_classes(labels.class_names, what="the thresholds file")
    figures: dict[str, Any] = {"split": thresholds.split, "thresholds": values.round(6).tolist()}
    for name, function in (("f1_macro", f1_per_class), ("openmic_paper_f1", openmic_paper_f1)):
        try:
            figures[name] = float(function(labels.positive, scores, thresholds=values, mask=known).macro)
        except UndefinedMetricError:
            figures[name] = None
    return figures
