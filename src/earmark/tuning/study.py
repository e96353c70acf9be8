"""The study loop: draw parameters, call an objective, keep every trial in an SQLite file.

:func:`run_study` is independent of training: it takes any objective
``objective(params, context) -> value``, where ``context.report(step, value)`` is the
intermediate-report hook (it raises ``optuna.TrialPruned`` when the median pruner says stop).
The training objective is one such callable (:mod:`earmark.tuning.objective`).

The study lives in one SQLite file (Optuna's RDB storage, opened with a lock timeout), so:

* a killed search resumes: running it again loads the study, and trials the kill left running
  are marked failed (their process is gone, or their heartbeat went silent); failed trials do
  not count toward the budget, finished (complete or pruned) ones do;
* several processes started on the same file share one study, each drawing new trials until the
  finished and running trials together reach the budget (then waiting for the running ones);
  processes that start a trial at the same moment may overshoot the budget by a trial each.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from earmark.config import ConfigError
from earmark.errors import EarmarkError
from earmark.tuning.space import SearchSpace, suggest

if TYPE_CHECKING:
    import optuna

__all__ = [
    "Objective",
    "StudySettings",
    "TrialContext",
    "TuningUnavailable",
    "open_study",
    "require_optuna",
    "run_study",
    "trial_counts",
]

STUDY_NAME = "earmark"
PROCESS_NOTE = "process"  # the user attribute naming the host and process running a trial


class TuningUnavailable(EarmarkError, RuntimeError):
    """Optuna is not installed (``pip install 'earmark[tune]'``)."""


def require_optuna() -> ModuleType:
    """The ``optuna`` module, or :class:`TuningUnavailable` saying how to install it."""
    try:
        import optuna
    except ImportError as error:
        raise TuningUnavailable("hyper-parameter search needs Optuna: pip install 'earmark[tune]'") from error
    return optuna


@dataclasses.dataclass(frozen=True)
class StudySettings:
    """How the loop runs: budget, direction, seed, pruning, time limit and storage timing.

    ``trials`` counts finished (complete or pruned) trials. No trial starts after
    ``timeout_seconds``. Writers wait up to ``sqlite_timeout_seconds`` for the SQLite lock.

    A running trial notes its host and process id and writes a heartbeat every
    ``heartbeat_seconds``. It is marked failed (its process was killed) when that process is
    gone from this host, when its heartbeat is silent for ``grace_seconds`` (another host),
    or when it noted no process ``grace_seconds + sqlite_timeout_seconds`` after it was drawn.
    """

    trials: int
    direction: Literal["maximize", "minimize"] = "maximize"
    seed: int = 0
    pruner: Literal["median", "none"] = "median"
    startup_trials: int = 5
    warmup_steps: int = 0
    timeout_seconds: float | None = None
    heartbeat_seconds: int = 10
    grace_seconds: int = 30
    sqlite_timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ValueError(f"a study needs at least one trial, got trials={self.trials}")
        if self.heartbeat_seconds < 1 or self.grace_seconds <= self.heartbeat_seconds:
            raise ValueError("heartbeat_seconds must be >= 1 and grace_seconds larger than it")


class TrialContext:
    """What an objective sees of its trial: its number, the report hook and notes."""

    def __init__(self, trial: optuna.trial.Trial) -> None:
        self._trial = trial

    @property
    def number(self) -> int:
        """The trial's number in the study (0, 1, ...; unique across processes)."""
        return int(self._trial.number)

    def report(self, step: int, value: float) -> None:
        """Record an intermediate ``value`` at ``step``; raises ``optuna.TrialPruned`` to stop."""
        optuna = require_optuna()
        self._trial.report(float(value), step)
        if self._trial.should_prune():
            raise optuna.TrialPruned(
                f"trial {self.number} pruned at step {step}: {value:.4g} is worse than the median"
            )

    def note(self, name: str, value: Any) -> None:
        """Keep a JSON-safe ``value`` with the trial (e.g. its training steps)."""
        self._trial.set_user_attr(name, value)


Objective = Callable[[dict[str, Any], TrialContext], float]


def _storage(path: Path, settings: StudySettings, *, attempts: int = 5) -> Any:
    """Optuna's RDB storage on SQLite file ``path``, with a heartbeat and a lock timeout.

    Processes started together race to create the tables; the losers retry, then load them.
    """
    optuna = require_optuna()
    from sqlalchemy.exc import SQLAlchemyError

    def connect() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                f"sqlite:///{path.resolve()}",
                engine_kwargs={"connect_args": {"timeout": settings.sqlite_timeout_seconds}},
                heartbeat_interval=settings.heartbeat_seconds,
                grace_period=settings.grace_seconds,
            )

    for attempt in range(1, attempts):
        try:
            return connect()
        except SQLAlchemyError:
            time.sleep(0.2 * attempt)
    return connect()


def _pruner(settings: StudySettings) -> Any:
    optuna = require_optuna()
    if settings.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=settings.startup_trials, n_warmup_steps=settings.warmup_steps
    )


def open_study(path: str | Path, settings: StudySettings, *, fingerprint: str | None = None) -> optuna.Study:
    """Create or load the study in SQLite file ``path``.

    ``fingerprint`` identifies what the study optimises; a file holding a study of another
    fingerprint raises :class:`~earmark.config.ConfigError` instead of mixing two searches.
    """
    optuna = require_optuna()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=_storage(path, settings),
        study_name=STUDY_NAME,
        direction=settings.direction,
        sampler=optuna.samplers.TPESampler(seed=settings.seed),
        pruner=_pruner(settings),
        load_if_exists=True,
    )
    if fingerprint is not None:
        held = study.user_attrs.get("fingerprint")
        if held is None:
            study.set_user_attr("fingerprint", fingerprint)
        elif held != fingerprint:
            raise ConfigError(
                f"{path} holds a search of another recipe (its training config, space or metric "
                "differ); use a new --run-dir, or delete the file to start over"
            )
    return study  # type: ignore[no-any-return]


def trial_counts(study: optuna.Study) -> dict[str, int]:
    """How many trials are in each state: ``complete``, ``pruned``, ``fail``, ``running``, ``waiting``."""
    counts = {"complete": 0, "pruned": 0, "fail": 0, "running": 0, "waiting": 0}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] += 1
    return counts


def _process_gone(note: str) -> bool:
    """True when ``note`` (``host:pid``) names a process of this host that no longer runs."""
    host, _, pid = note.rpartition(":")
    if os.name != "posix" or host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user's process
        return False
    return False


def _fail_stale(study: optuna.Study, settings: StudySettings) -> None:
    """Mark failed the running trials whose process died (see :class:`StudySettings`)."""
    optuna = require_optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    # a live process notes itself on its trial within the lock timeout of drawing it
    limit = datetime.now() - timedelta(seconds=settings.grace_seconds + settings.sqlite_timeout_seconds)
    failed = optuna.trial.TrialState.FAIL
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        note = trial.user_attrs.get(PROCESS_NOTE)
        never_noted = note is None and trial.datetime_start is not None and trial.datetime_start < limit
        if never_noted or (note is not None and _process_gone(str(note))):
            study.tell(trial.number, state=failed, skip_if_finished=True)


def run_study(
    objective: Objective,
    space: SearchSpace,
    path: str | Path,
    settings: StudySettings,
    *,
    fingerprint: str | None = None,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.Study:
    """Run trials until ``settings.trials`` have finished (or time is up); returns the study.

    Parameters
    ----------
    objective : callable
        ``objective(params, context) -> float``: ``params`` maps each key of ``space`` to its
        drawn value; ``context`` is a :class:`TrialContext`. An exception other than
        ``optuna.TrialPruned`` fails the trial and stops the loop.
    space : SearchSpace
        What to draw.
    path : path
        The SQLite file of the study (created, or loaded and continued).
    settings : StudySettings
        Budget, direction, seeding, pruning, time limit.
    fingerprint : str, optional
        See :func:`open_study`.
    on_trial : callable, optional
        Called with each trial this process finishes.

    """
    optuna_module = require_optuna()
    study = open_study(path, settings, fingerprint=fingerprint)
    deadline = None if settings.timeout_seconds is None else time.monotonic() + settings.timeout_seconds

    def evaluate(trial: optuna.trial.Trial) -> float:
        # a sampler seeded by the trial's number (unique across processes), set before the first
        # draw: a resumed or parallel search repeats no earlier draw, and one process reproduces
        study.sampler = optuna_module.samplers.TPESampler(seed=settings.seed + trial.number)
        trial.set_user_attr(PROCESS_NOTE, f"{socket.gethostname()}:{os.getpid()}")
        return objective(suggest(trial, space), TrialContext(trial))

    def report_finished(_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if on_trial is not None:
            on_trial(trial)

    while deadline is None or time.monotonic() < deadline:
        _fail_stale(study, settings)
        counts = trial_counts(study)
        finished = counts["complete"] + counts["pruned"]
        if finished >= settings.trials:
            break
        if finished + counts["running"] >= settings.trials:
            time.sleep(min(settings.heartbeat_seconds, 5))  # others' trials finish or go stale
            continue
        study.optimize(evaluate, n_trials=1, callbacks=[report_finished], gc_after_trial=False)
    return study
