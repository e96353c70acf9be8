"""A run directory never runs code: every entry point that loads a checkpoint refuses a planted payload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from earmark.config import from_dict
from earmark.runs import load_run
from earmark.testing.prepared import make_prepared
from earmark.training.checkpoint import UnsafeCheckpointError, load_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer


class _Planted:
    """Unpickling this creates the file ``marker``: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.makedirs, (str(self.marker),))


def _config(prepared: Path, **overrides) -> TrainConfig:  # type: ignore[no-untyped-def]
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
def planted_run(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A genuine run whose best.pt and last.pt then get a payload beside the real weights."""
    root = tmp_path_factory.mktemp("planted")
    prepared = make_prepared(root / "prepared")
    run = root / "run"
    Trainer(_config(prepared), run).fit()
    marker = root / "code-ran"
    for name in ("best", "last"):
        path = run / "checkpoints" / f"{name}.pt"
        payload = torch.load(path, weights_only=True)  # genuine checkpoints load this way
        payload["extra"] = _Planted(marker)
        torch.save(payload, path)
    return prepared, run, marker


def test_a_genuine_checkpoint_loads(tmp_path):
    prepared = make_prepared(tmp_path / "prepared")
    Trainer(_config(prepared), tmp_path / "run").fit()
    assert "model" in load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")


def _load_through(entry: str, prepared: Path, run: Path, scratch: Path) -> None:
    """Load ``run``'s checkpoints the way ``entry`` does."""
    if entry.startswith("load_run"):
        load_run(run)
    elif entry == "teacher_run":
        options = {"teacher_run": str(run), "gamma": 95.0}
        Trainer(_config(prepared, strategy="label_enhancement", strategy_options=options), scratch / "le")
    elif entry == "init_from":
        Trainer(_config(prepared, init_from=str(run)), scratch / "warm")
    else:
        Trainer(_config(prepared), run).fit(resume=True)


@pytest.mark.parametrize(
    "entry", ["load_run (predict, audit, export, pipelines)", "teacher_run", "init_from", "resume"]
)
def test_a_planted_payload_never_runs(planted_run, entry, tmp_path):
    prepared, run, marker = planted_run
    with pytest.raises(UnsafeCheckpointError, match=r"best\.pt|last\.pt"):
        _load_through(entry, prepared, run, tmp_path)
    assert not marker.exists()
