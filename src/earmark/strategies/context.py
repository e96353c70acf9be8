"""What the Trainer gives a strategy before training: the run, the spec, scoring and run loading.

A strategy sits below the Trainer and below :mod:`earmark.runs`, so it never imports them:
what it needs from them (scoring clips from the run's feature store, loading an earlier run as
a teacher) arrives here as functions, typed by the protocols of this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
from torch import nn

from earmark.data.labels import Labels
from earmark.inference import Segmenting
from earmark.spec import TaggingSpec

__all__ = ["RunLoader", "TeacherRun", "TrainingContext"]


class TeacherRun(Protocol):
    """A finished run a strategy learns from (label enhancement's teacher).

    :class:`earmark.runs.LoadedRun` is one.
    """

    @property
    def directory(self) -> Path:
        """The run's directory."""

    @property
    def checkpoint(self) -> Path:
        """The checkpoint file the model was loaded from."""

    @property
    def spec(self) -> TaggingSpec:
        """The run's classes, front-end and segment length."""

    @property
    def model(self) -> nn.Module:
        """The run's evaluated model, in evaluation mode."""

    @property
    def segmenting(self) -> Segmenting:
        """How the run cuts and aggregates clips (its own, not the student's)."""


class RunLoader(Protocol):
    """``load(directory, checkpoint=...)``: the run in ``directory`` (:func:`earmark.runs.load_run`)."""

    def __call__(self, directory: str | Path, *, checkpoint: str = "best") -> TeacherRun:
        """Load the run in ``directory`` from its checkpoint ``checkpoint`` (``best`` or ``last``)."""


@dataclasses.dataclass(frozen=True)
class TrainingContext:
    """What a strategy may use before training starts (see ``Strategy.prepare_labels``).

    Attributes
    ----------
    run_dir : the run directory (files a strategy writes there are part of the run).
    spec : the run's TaggingSpec.
    is_main : True on the process that writes files (rank 0, or the only process).
    score : ``score(model, labels, segmenting)`` returns the model's clip probabilities
        ``(clips, classes)`` for ``labels``' clips, from the run's feature store, cut and
        aggregated as ``segmenting`` says (a teacher run's own settings).
    load_run : loads an earlier run by its directory (label enhancement's teacher).

    """

    run_dir: Path
    spec: TaggingSpec
    is_main: bool
    score: Callable[[nn.Module, Labels, Segmenting], np.ndarray]
    load_run: RunLoader

    def teacher_scores(
        self, directory: str, labels: Labels, *, checkpoint: str = "best"
    ) -> tuple[TeacherRun, np.ndarray]:
        """The run in ``directory`` and its probabilities ``(clips, classes)`` for ``labels``' clips.

        The teacher must have the run's classes and front-end (its segment length may differ: it
        scores with its own segmenting, as it was validated); otherwise
        :class:`~earmark.spec.SpecMismatchError` names the teacher run.
        """
        teacher = self.load_run(directory, checkpoint=checkpoint)
        teacher.spec.check_compatible(
            dataclasses.replace(self.spec, segment_frames=teacher.spec.segment_frames),
            what=f"teacher run {directory}",
        )
        return teacher, self.score(teacher.model, labels, teacher.segmenting)
