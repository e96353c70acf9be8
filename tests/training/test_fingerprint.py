"""A rerun never reports an old model: run directories are claimed by fingerprint."""

from __future__ import annotations

import json

import pytest

from earmark.config import from_dict
from earmark.testing.prepared import make_prepared
from earmark.training.checkpoint import load_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.crossval import cross_validate
from earmark.training.fingerprint import RunDirectoryError, read_fingerprint, run_fingerprint
from earmark.training.trainer import Trainer


def _config(prepared, **overrides) -> TrainConfig:  # type: ignore[no-untyped-def]
    data = {
        "data": {"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
        "model": "cnn",
        "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
        "segment_frames": 16,
        "batch_size": 8,
        "epochs": 1,
        "report": False,
        **overrides,
    }
    return from_dict(TrainConfig, data)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("fingerprint") / "prepared")


def test_the_fingerprint_follows_settings_and_labels_not_execution(prepared, tmp_path):
    base = run_fingerprint(_config(prepared))
    assert run_fingerprint(_config(prepared, device="cpu", num_workers=2, report=True)) == base
    assert run_fingerprint(_config(prepared, seed=7)) != base
    assert run_fingerprint(_config(prepared, **{"optim": {"lr": 0.01}})) != base
    labels = tmp_path / "labels.csv"
    labels.write_text((prepared / "labels.csv").read_text(), encoding="utf-8")
    relabeled = _config(prepared, data={"prepared": str(prepared), "labels": str(labels)})
    before = run_fingerprint(relabeled)
    labels.write_text(labels.read_text().replace(",1,", ",2,", 1), encoding="utf-8")  # one row edited
    assert run_fingerprint(relabeled) != before  # the same path, other labels


def test_a_used_run_directory_is_refused_unless_resumed_or_overwritten(prepared, tmp_path):
    run = tmp_path / "run"
    Trainer(_config(prepared), run).fit()
    with pytest.raises(RunDirectoryError, match=r"already holds a finished run; --resume .* --overwrite"):
        Trainer(_config(prepared), run).fit()
    with pytest.raises(RunDirectoryError, match="other settings or labels"):
        Trainer(_config(prepared, seed=3), run).fit(resume=True)
    Trainer(_config(prepared), run).fit(resume=True)  # the same settings resume


def test_an_overwrite_never_reports_the_old_model(prepared, tmp_path):
    """The old defect: a rerun without validation evaluated the previous run's best.pt."""
    run = tmp_path / "run"
    Trainer(_config(prepared, epochs=3), run).fit()
    assert (run / "checkpoints" / "best.pt").exists()
    no_valid = {"prepared": str(prepared), "train_folds": [1, 2], "test_folds": [3]}
    summary = Trainer(_config(prepared, data=no_valid, seed=5), run).fit(overwrite=True)
    assert not (run / "checkpoints" / "best.pt").exists()  # nothing of the old run is left to load
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {row["split"] for row in rows} == {"train"}
    assert summary["steps"] == load_checkpoint(run / "checkpoints" / "last.pt")["step"]
    assert read_fingerprint(run) == run_fingerprint(_config(prepared, data=no_valid, seed=5))


def test_cross_validation_reuses_a_fold_only_when_its_fingerprint_matches(prepared, tmp_path):
    config = _config(prepared, data={"prepared": str(prepared)})
    seen: list[tuple[int, str]] = []
    first = cross_validate(config, tmp_path / "cv", folds=[1])
    again = cross_validate(config, tmp_path / "cv", folds=[1], on_reuse=lambda f, how: seen.append((f, how)))
    assert seen == [(1, "reused")]
    assert again["folds"] == first["folds"]
    seen.clear()
    cross_validate(
        _config(prepared, data={"prepared": str(prepared)}, seed=9),
        tmp_path / "cv",
        folds=[1],
        on_reuse=lambda f, how: seen.append((f, how)),
    )
    assert seen == [(1, "retrained")]
    fold = tmp_path / "cv" / "fold-1"
    assert read_fingerprint(fold) == run_fingerprint(
        _config(prepared, data={"prepared": str(prepared), "train_folds": [2, 3], "test_folds": [1]}, seed=9)
    )
