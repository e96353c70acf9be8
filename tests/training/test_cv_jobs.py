"""Cross-validation with folds trained side by side (``jobs``): the same folds as one at a time."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from earmark.config import from_dict
from earmark.testing.prepared import make_prepared
from earmark.testing.recipes import tiny_recipe
from earmark.training.config import TrainConfig
from earmark.training.crossval import cross_validate


def _config(prepared, **overrides) -> TrainConfig:  # type: ignore[no-untyped-def]
    return from_dict(TrainConfig, tiny_recipe(prepared, **{"epochs": 2, **overrides}))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("cv_jobs") / "prepared")


def test_folds_side_by_side_score_as_one_at_a_time_and_are_reused(prepared, tmp_path):
    config = _config(prepared)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' share with jobs=2 on up to 3 cores: the same arithmetic
    try:
        one = cross_validate(config, tmp_path / "one")
    finally:
        torch.set_num_threads(threads)
    ended: list[int] = []
    both = cross_validate(config, tmp_path / "two", jobs=2, on_fold=lambda fold, _: ended.append(fold))
    assert sorted(ended) == [1, 2, 3]
    assert list(both["folds"]) == ["1", "2", "3"]  # in fold order, whichever ended first
    for fold, metrics in one["folds"].items():
        assert metrics.keys() == both["folds"][fold].keys()
        for name, value in metrics.items():
            assert both["folds"][fold][name] == pytest.approx(value, abs=1e-6), (fold, name)
    written = json.loads((tmp_path / "two" / "cv_summary.json").read_text())
    assert written["mean"] == pytest.approx(both["mean"])
    # a second call finds every fold finished with these settings and trains none
    seen: list[tuple[int, str]] = []
    cross_validate(config, tmp_path / "two", jobs=2, on_reuse=lambda fold, how: seen.append((fold, how)))
    assert sorted(seen) == [(1, "reused"), (2, "reused"), (3, "reused")]


def test_jobs_are_refused_where_they_cannot_work(prepared, tmp_path):
    config = _config(prepared)
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        cross_validate(config, tmp_path / "cv", jobs=0)
    with pytest.raises(ValueError, match="nested search runs one fold at a time"):
        cross_validate(config, tmp_path / "cv", jobs=2, fold_config=lambda fold, settings: settings)
    with pytest.raises(ValueError, match="is a GPU"):
        cross_validate(_config(prepared, device="cuda"), tmp_path / "cv", jobs=2)


def test_a_fold_failing_in_its_process_is_raised_in_the_parent(prepared, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(prepared, broken)
    shutil.rmtree(broken / "features")  # the labels read; every fold's training then fails
    with pytest.raises(Exception, match="holds no finished feature store") as raised:
        cross_validate(_config(broken), tmp_path / "cv", jobs=2)
    assert type(raised.value.__cause__).__name__ == "_RemoteTraceback"  # raised in a fold's process
    assert not (tmp_path / "cv" / "cv_summary.json").exists()


def test_folds_left_after_whole_rounds_share_all_the_threads(prepared, tmp_path, monkeypatch):
    from earmark.training import crossval

    rounds: list[tuple[list[int], int]] = []
    real = crossval._train_side_by_side

    def spy(settings, run_dir, jobs, record):  # type: ignore[no-untyped-def]
        rounds.append((list(settings), jobs))
        real(settings, run_dir, jobs, record)

    monkeypatch.setattr(crossval, "_train_side_by_side", spy)
    result = cross_validate(_config(prepared, epochs=1), tmp_path / "cv", jobs=2)
    # three folds, two jobs: folds 1 and 2 side by side, then fold 3 alone with every thread
    assert rounds == [([1, 2], 2), ([3], 1)]
    assert list(result["folds"]) == ["1", "2", "3"]
    rounds.clear()
    cross_validate(_config(prepared, epochs=1), tmp_path / "cv4", jobs=4)
    assert rounds == [([1, 2, 3], 3)]  # more jobs than folds: one round, the threads split three ways


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        state = next(line for line in status.read_text().splitlines() if line.startswith("State:"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "Z" not in state.split()[1]  # a zombie has ended; only its exit status waits


@pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="reads a process's children from Linux /proc (a kernel with CONFIG_PROC_CHILDREN)",
)
def test_killing_the_cross_validation_ends_its_fold_processes(prepared, tmp_path):
    script = (
        "import sys\n"
        "from earmark.config import from_dict\n"
        "from earmark.training.config import TrainConfig\n"
        "from earmark.training.crossval import cross_validate\n"
        "from earmark.testing.recipes import tiny_recipe\n"
        f"config = from_dict(TrainConfig, tiny_recipe({str(prepared)!r}, epochs=100000))\n"
        f"cross_validate(config, {str(tmp_path / 'cv')!r}, jobs=2)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        folds = [tmp_path / "cv" / f"fold-{k}" / "metrics.jsonl" for k in (1, 2)]
        while not all(f.exists() and f.stat().st_size > 0 for f in folds):  # both folds are training
            assert parent.poll() is None, "the cross-validation ended before its folds trained"
            assert time.monotonic() < deadline, "the folds did not start training within 2 minutes"
            time.sleep(0.5)
        workers = [
            pid
            for pid in _children(parent.pid)
            if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        ]
        assert len(workers) == 2
        parent.send_signal(signal.SIGTERM)  # the parent alone, as `kill <pid>` does
        parent.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert not any(_alive(pid) for pid in workers), "a fold kept training after its parent was killed"
    finally:
        if parent.poll() is None:
            parent.kill()
