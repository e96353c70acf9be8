"""``earmark evaluate`` on a run's own predictions gives the numbers of the run's summary.json.

The labels are partly annotated (as OpenMIC and SONYC-UST are), where masking matters: the run
leaves missing entries out, and so must ``earmark evaluate`` by default.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.cli import app
from earmark.config import from_dict
from earmark.data.table import read_labels, write_labels
from earmark.testing.prepared import make_prepared
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer

runner = CliRunner()


@pytest.fixture(scope="module")
def partly_labeled_run(tmp_path_factory):
    """A short run on labels whose negatives are a third missing; returns (run, labels path)."""
    root = tmp_path_factory.mktemp("partly_labeled")
    prepared = make_prepared(root / "prepared", num_clips=90, seed=3)
    labels = read_labels(prepared / "labels.csv")
    rng = np.random.default_rng(0)
    annotated = labels.positive | (rng.random(labels.positive.shape) < 0.65)
    partial = labels.with_matrices(annotated=annotated)
    assert not partial.annotated.all()
    assert not partial.positives_only
    write_labels(partial, prepared / "labels.csv")
    config = from_dict(
        TrainConfig,
        {
            "data": {"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
            "model": "cnn",
            "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
            "segment_frames": 16,
            "batch_size": 8,
            "epochs": 1,
            "optim": {"lr": 1e-3},
            "seed": 1,
        },
    )
    run = root / "run"
    Trainer(config, run).fit()
    return run, prepared / "labels.csv"


def evaluate_cli(run, labels_path, out, *mask_option: str) -> dict:
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--predictions", str(run / "predictions" / "valid.npz"),
            "--labels", str(labels_path),
            "--out", str(out),
            "--bootstrap", "0",
            "--no-plots",
            *mask_option,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


def test_evaluate_agrees_with_the_runs_summary_on_partly_labeled_data(partly_labeled_run, tmp_path):
    run, labels_path = partly_labeled_run
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))["valid"]
    metrics = evaluate_cli(run, labels_path, tmp_path / "auto")
    assert set(summary) == {"lwlrap", "ap_macro"}
    for name, value in summary.items():
        assert metrics["summary"][name] == pytest.approx(value, abs=1e-12), name
    assert metrics["inputs"]["missing_entries_are"] == "left out (masked)"
    run_report = json.loads((run / "report" / "metrics.json").read_text(encoding="utf-8"))
    assert run_report["summary"] == metrics["summary"]


def test_the_mask_matters_on_this_run(partly_labeled_run, tmp_path):
    """Counting missing entries as negatives gives other numbers: the test above can fail."""
    run, labels_path = partly_labeled_run
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))["valid"]
    unmasked = evaluate_cli(run, labels_path, tmp_path / "off", "--mask", "off")
    masked = evaluate_cli(run, labels_path, tmp_path / "on", "--mask", "on")
    assert unmasked["inputs"]["missing_entries_are"] == "negatives"
    assert unmasked["summary"]["lwlrap"] != pytest.approx(summary["lwlrap"], abs=1e-6)
    assert unmasked["summary"]["ap_macro"] != pytest.approx(summary["ap_macro"], abs=1e-6)
    assert masked["summary"]["lwlrap"] == pytest.approx(summary["lwlrap"], abs=1e-12)
