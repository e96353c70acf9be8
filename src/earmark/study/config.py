"""The study file: which remedies (arms) to compare, over which seeds and folds, against what.

A study file is YAML::

    base: recipes/esc_mix_missing.yaml      # a training recipe every arm starts from
    train: {epochs: 30}                     # written over the base for every arm
    labels: runs/drops/s{seed}/labels.csv   # training labels per seed / fold (optional)
    truth: runs/esc_mix_aisfx/labels.csv    # what test predictions are scored against
    seeds: [0, 1, 2]
    metric: ap_macro
    baseline: B1
    arms:
      - name: B0
        train: {strategy: supervised, strategy_options: {missing: negative}}
      - name: B1
        train: {strategy: supervised, strategy_options: {missing: mask}}
      - name: LE
        train:
          strategy: supervised
          strategy_options: {missing: mask, enhance: {teacher_run: "{run:B0}", gamma: 95}}
      - name: stage2                        # a pipeline arm: the recipe runs once per seed/fold
        pipeline: recipes/multistage.yaml   # and its stage ``stage`` is scored
        stage: stage2

In any string of an arm, ``{run:NAME}`` is the run directory of arm ``NAME`` for the same seed
and fold (an earlier arm: arms run in the order written), ``{seed}`` and ``{fold}`` the cell's
seed and held-out fold. ``folds`` empty keeps the base recipe's split; otherwise each fold is the
test set in turn, the next fold (cyclically) the validation set (``valid: next``) or none
(``valid: none``), and every other fold trains; ``held_out`` runs only some of the folds
as test sets (a cheaper, partial cross-validation: every fold still trains). Settings are
chosen before test figures are seen: the study scores the test split once, after every run has
finished.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from earmark.config import ConfigError, Range, check_ranges, from_dict, load_yaml
from earmark.metrics.table import METRICS

__all__ = ["ArmConfig", "StudyConfig", "load_study", "study_from_dict"]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
RUN_REFERENCE = re.compile(r"\{run:([^}]*)\}")


@dataclasses.dataclass(frozen=True)
class ArmConfig:
    """One remedy of a study.

    ``name``: letters, digits and ``_ . + -`` (it names the arm's run directories).
    ``train``: a mapping written over the study's training config (a strategy, its options, any
    training key); naming a ``strategy`` (or ``model``) replaces the base's options of it rather
    than merging into them. ``pipeline`` + ``stage``: a pipeline recipe (YAML) run for each seed and fold,
    and the name of the train stage whose test predictions are this arm's; the study's seed,
    split and ``train`` mapping are written over the recipe's ``train`` section.
    ``reference``: an arm a user could not train (the same learner on the true labels, say): it
    is compared like the others but never recommended, and the report gives the share of its
    gain over the baseline that each remedy reaches. Several arms may be references (the true
    labels under two losses, say); the share is of the first one's gain.
    """

    name: str
    train: dict[str, Any] = dataclasses.field(default_factory=dict)
    pipeline: str | None = None
    stage: str | None = None
    reference: bool = False

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ConfigError(
                f"arm name {self.name!r} must start with a letter or digit and hold only letters, "
                "digits and _ . + -"
            )
        if (self.pipeline is None) != (self.stage is None):
            raise ConfigError(f"arm {self.name!r}: give pipeline and stage together, or neither")

    def references(self) -> list[str]:
        """The arms this arm's strings name with ``{run:NAME}``."""
        found: list[str] = []
        for text in _strings(self.train):
            found += RUN_REFERENCE.findall(text)
        return found


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """A study: arms × seeds × folds on one prepared data set, compared on the test split.

    ``base``: a training recipe (YAML; its ``tune:`` block is ignored), relative to the study
    file. ``train``: written over it for every arm. ``labels``: the training labels, a path with
    optional ``{seed}`` / ``{fold}`` (default: the recipe's). ``truth``: the labels the test
    predictions are scored against (default: the prepared directory's ``labels.csv``); only its
    annotated entries count, unless ``truth_missing: negative`` (positives-only truth such as
    AudioSet's, whose unlabeled entries are its negatives). ``metric``: the headline metric,
    compared against ``baseline`` with a paired bootstrap over test clips of the seed-mean
    metric; ``metrics``: more columns.
    ``resamples``, ``confidence``: of the bootstrap. ``estimate``: open the report with the
    estimated share of missing (``missing``) or wrong (``noise``) labels, from the baseline's
    scores of its validation clips (:mod:`earmark.study.quality`).
    """

    arms: tuple[ArmConfig, ...]
    baseline: str
    base: str | None = None
    train: dict[str, Any] = dataclasses.field(default_factory=dict)
    labels: str | None = None
    truth: str | None = None
    seeds: tuple[int, ...] = (0,)
    folds: tuple[int, ...] = ()
    held_out: tuple[int, ...] = ()
    valid: Literal["next", "none"] = "next"
    metric: str = "ap_macro"
    metrics: tuple[str, ...] = ()
    truth_missing: Literal["skip", "negative"] = "skip"
    estimate: Literal["none", "missing", "noise"] = "none"
    resamples: Annotated[int, Range(ge=100)] = 1000
    confidence: Annotated[float, Range(gt=0, lt=1)] = 0.95

    def __post_init__(self) -> None:
        check_ranges(self)
        names = [arm.name for arm in self.arms]
        if len(names) < 2:
            raise ConfigError("a study compares at least two arms (the baseline and one remedy)")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"arm names must be unique; repeated: {', '.join(repeated)}")
        if self.baseline not in names:
            raise ConfigError(f"baseline {self.baseline!r} is not an arm; the arms are {', '.join(names)}")
        if self.arm(self.baseline).reference:
            raise ConfigError(f"the baseline {self.baseline!r} cannot be a reference arm")
        for position, arm in enumerate(self.arms):
            for reference in arm.references():
                if reference not in names[:position]:
                    raise ConfigError(
                        f"arm {arm.name!r} refers to {{run:{reference}}}, which is not an earlier arm "
                        f"(earlier: {', '.join(names[:position]) or 'none'})"
                    )
        for metric in (self.metric, *self.metrics):
            if metric not in METRICS:
                raise ConfigError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be a non-empty list without repeats, got {list(self.seeds)}")
        strangers = sorted(set(self.held_out) - set(self.folds))
        if strangers:
            raise ConfigError(
                f"held_out folds {strangers} are not among the study's folds {list(self.folds)}"
            )
        if len(set(self.folds)) != len(self.folds) or (len(self.folds) == 1 and self.valid == "next"):
            raise ConfigError(
                f"folds {list(self.folds)}: each fold once, and at least two for valid: next "
                "(the next fold validates)"
            )

    def arm(self, name: str) -> ArmConfig:
        """The arm called ``name``."""
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise ConfigError(f"no arm {name!r}; the arms are {', '.join(a.name for a in self.arms)}")

    @property
    def reported_metrics(self) -> tuple[str, ...]:
        """The headline metric first, then the others, each once."""
        return tuple(dict.fromkeys((self.metric, *self.metrics)))


def study_from_dict(data: Mapping[str, Any], *, folder: str | Path = ".") -> StudyConfig:
    """A :class:`StudyConfig` from a mapping; relative ``base``/``pipeline`` paths are read from ``folder``.

    ``labels`` and ``truth`` stay as written: like every path in a recipe, they are relative to
    the working directory.
    """
    study = from_dict(StudyConfig, data)
    folder = Path(folder)
    arms = tuple(
        dataclasses.replace(arm, pipeline=str(_beside(folder, arm.pipeline))) if arm.pipeline else arm
        for arm in study.arms
    )
    base = str(_beside(folder, study.base)) if study.base else None
    return dataclasses.replace(study, arms=arms, base=base)


def load_study(path: str | Path) -> StudyConfig:
    """Read a study file (YAML) strictly: unknown keys fail naming the key and the valid ones."""
    path = Path(path)
    try:
        return study_from_dict(load_yaml(path), folder=path.parent)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error


def _beside(folder: Path, path: str) -> Path:
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return folder / candidate


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []
