from __future__ import annotations

import math
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from earmark.config import ConfigError
from earmark.tuning import (
    SearchSpace,
    StudySettings,
    TuningUnavailable,
    open_study,
    require_optuna,
    run_study,
)

optuna = pytest.importorskip("optuna")

OPTIMUM_LOG10_LR = -2.5
SPACE = {
    "optim.lr": {"low": 1.0e-5, "high": 1.0e-1, "log": True},
    "optim.name": {"choices": ["sgd", "adam", "adamw"]},
}


def quadratic(params, context) -> float:
    """Best at lr = 10 ** OPTIMUM_LOG10_LR with adam; the other choices cost a fixed penalty."""
    miss = math.log10(params["optim.lr"]) - OPTIMUM_LOG10_LR
    return -(miss**2) - (0.0 if params["optim.name"] == "adam" else 1.0)


def _states(study) -> dict[int, str]:
    return {t.number: t.state.name for t in study.get_trials(deepcopy=False)}


def test_finds_the_optimum_of_a_synthetic_objective(tmp_path):
    space = SearchSpace.from_config_dict(SPACE)
    settings = StudySettings(trials=30, seed=0, pruner="none")
    study = run_study(quadratic, space, tmp_path / "study.db", settings)
    best = study.best_trial
    assert best.params["optim.name"] == "adam"
    assert abs(math.log10(best.params["optim.lr"]) - OPTIMUM_LOG10_LR) < 0.3
    assert len(study.trials) == settings.trials
    # the same seed draws the same trials
    shorter = StudySettings(trials=12, seed=0, pruner="none")
    again = run_study(quadratic, space, tmp_path / "again.db", shorter)
    assert [t.params for t in again.trials] == [t.params for t in study.trials[: shorter.trials]]


def test_median_pruning_stops_a_clearly_worse_curve(tmp_path):
    space = SearchSpace.from_config_dict({"x": {"low": 0.0, "high": 1.0}})
    worse, steps = 3, 5

    def curve(params, context) -> float:
        level = 0.0 if context.number == worse else 1.0
        for step in range(1, steps + 1):
            context.report(step, level + 0.01 * step)
        return level + 0.01 * steps

    pruned = run_study(
        curve, space, tmp_path / "median.db", StudySettings(trials=5, pruner="median", startup_trials=worse)
    )
    states = _states(pruned)
    assert states.pop(worse) == "PRUNED"
    assert set(states.values()) == {"COMPLETE"}
    assert len(pruned.trials[worse].intermediate_values) < steps
    unpruned = run_study(curve, space, tmp_path / "none.db", StudySettings(trials=5, pruner="none"))
    assert set(_states(unpruned).values()) == {"COMPLETE"}


def test_no_trial_starts_after_the_timeout(tmp_path):
    space = SearchSpace.from_config_dict(SPACE)
    study = run_study(quadratic, space, tmp_path / "study.db", StudySettings(trials=3, timeout_seconds=0.0))
    assert study.trials == []


def test_a_study_file_of_another_search_is_refused(tmp_path):
    space = SearchSpace.from_config_dict(SPACE)
    run_study(quadratic, space, tmp_path / "study.db", StudySettings(trials=1), fingerprint="a")
    with pytest.raises(ConfigError, match=r"holds a search of another recipe.*new --run-dir"):
        run_study(quadratic, space, tmp_path / "study.db", StudySettings(trials=2), fingerprint="b")


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # the orphan is drawn with ask()
@pytest.mark.parametrize("note", ["dead process", "no note"])
def test_a_trial_left_running_by_a_dead_process_is_failed_and_redrawn(tmp_path, note):
    space = SearchSpace.from_config_dict(SPACE)
    settings = StudySettings(trials=2, heartbeat_seconds=1, grace_seconds=2, sqlite_timeout_seconds=1)
    orphan = open_study(tmp_path / "study.db", settings).ask()  # drawn, then its process "died"
    if note == "dead process":
        finished = subprocess.Popen([sys.executable, "-c", "pass"])
        finished.wait()
        orphan.set_user_attr("process", f"{socket.gethostname()}:{finished.pid}")
    study = run_study(quadratic, space, tmp_path / "study.db", settings)
    states = _states(study)
    assert states.pop(orphan.number) == "FAIL"
    assert list(states.values()) == ["COMPLETE"] * settings.trials


def test_a_missing_optuna_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(TuningUnavailable, match=r"pip install 'earmark\[tune\]'"):
        require_optuna()


SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from earmark.tuning import SearchSpace, StudySettings, run_study

    database, log, trials = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])

    def objective(params, context):
        with log.open("a") as f:
            f.write(f"start {context.number}\\n")
        time.sleep(0.3)
        with log.open("a") as f:
            f.write(f"done {context.number}\\n")
        return -((params["x"] - 0.3) ** 2)

    space = SearchSpace.from_config_dict({"x": {"low": 0.0, "high": 1.0}})
    settings = StudySettings(trials=trials, heartbeat_seconds=1, grace_seconds=2, sqlite_timeout_seconds=3)
    run_study(objective, space, database, settings)
    """
)


def _count(database: Path) -> dict[str, int]:
    if not database.exists():
        return {}
    try:
        with sqlite3.connect(database, timeout=10) as connection:
            rows = connection.execute("select state, count(*) from trials group by state").fetchall()
    except sqlite3.OperationalError:  # the tables are not created yet
        return {}
    return dict(rows)


def _search(tmp_path: Path, trials: int) -> subprocess.Popen[bytes]:
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    arguments = [str(tmp_path / "study.db"), str(tmp_path / "calls.log"), str(trials)]
    return subprocess.Popen([sys.executable, str(script), *arguments], stderr=subprocess.DEVNULL)


def test_a_killed_search_resumes_without_redoing_finished_trials(tmp_path):
    trials, database = 8, tmp_path / "study.db"
    first = _search(tmp_path, trials)
    deadline = time.monotonic() + 60
    while not (_count(database).get("COMPLETE", 0) >= 3 and _count(database).get("RUNNING", 0) == 1):
        assert first.poll() is None, "the search ended before it could be killed"
        assert time.monotonic() < deadline, "no trial finished within a minute"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = _count(database)["COMPLETE"]
    assert done_before < trials

    second = _search(tmp_path, trials)
    assert second.wait(timeout=120) == 0
    study = optuna.load_study(study_name="earmark", storage=f"sqlite:///{database}")
    states = _states(study)
    complete = sorted(n for n, s in states.items() if s == "COMPLETE")
    assert len(complete) == trials
    assert list(states.values()).count("FAIL") == 1  # the trial the kill left running
    calls = (tmp_path / "calls.log").read_text().split("\n")
    done = [int(line.split()[1]) for line in calls if line.startswith("done")]
    assert sorted(done) == complete  # every finished trial ran exactly once
    killed = next(n for n, s in states.items() if s == "FAIL")
    assert killed not in done


def test_processes_started_together_share_one_study(tmp_path):
    trials, workers = 6, 2
    searches = [_search(tmp_path, trials) for _ in range(workers)]
    assert [search.wait(timeout=120) for search in searches] == [0] * workers
    study = optuna.load_study(study_name="earmark", storage=f"sqlite:///{tmp_path / 'study.db'}")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    # the budget is met; processes starting a trial at the same moment may each add one
    assert trials <= len(complete) <= trials + workers - 1
    assert len({t.params["x"] for t in complete}) == len(complete)  # no draw repeated
    calls = (tmp_path / "calls.log").read_text().split()
    assert calls.count("done") == len(complete)
