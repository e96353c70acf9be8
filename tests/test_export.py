from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from earmark.cli import app
from earmark.config import from_dict
from earmark.export import ExportError, export_model
from earmark.predictions import Predictions
from earmark.runs import load_run
from earmark.testing.prepared import make_prepared
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    prepared = make_prepared(base / "prepared", num_clips=30)
    config = from_dict(
        TrainConfig,
        {
            "data": {"prepared": str(prepared), "train_folds": [1, 2], "test_folds": [3]},
            "model": "cnn",
            "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
            "segment_frames": 16,
            "batch_size": 8,
            "epochs": 1,
        },
    )
    Trainer(config, base / "run").fit()
    return base / "run"


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_matches_the_model_on_other_lengths(trained_run, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="the 'export' extra is not installed")
    loaded = load_run(trained_run)
    path = tmp_path / f"model.{'pt' if fmt == 'torchscript' else 'onnx'}"
    worst = export_model(loaded.model, loaded.spec, path, fmt)
    assert worst < 1e-4
    assert (tmp_path / "model.spec.json").exists()
    features = torch.randn(3, 57, 16)
    expected = loaded.model(features).detach().numpy()
    if fmt == "torchscript":
        got = torch.jit.load(str(path))(features).detach().numpy()
    else:
        import onnxruntime

        got = onnxruntime.InferenceSession(str(path)).run(None, {"features": features.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_export_command_and_bad_format(trained_run):
    result = runner.invoke(app, ["export", "--run", str(trained_run)])
    assert result.exit_code == 0, result.output
    assert (trained_run / "export" / "model.pt").exists()
    bad = runner.invoke(app, ["export", "--run", str(trained_run), "--format", "tflite"])
    assert "torchscript or onnx" in str(bad.exception)
    loaded = load_run(trained_run)
    with pytest.raises(ExportError, match="unknown export format"):
        export_model(loaded.model, loaded.spec, trained_run / "x.bin", "tflite")  # type: ignore[arg-type]


def test_ensemble_averages_scores(trained_run, tmp_path):
    test = Predictions.read(trained_run / "predictions" / "test.npz")
    shuffled = test.take(np.arange(test.num_clips)[::-1])
    doubled = Predictions(shuffled.clip_ids, shuffled.class_names, np.clip(shuffled.scores * 0.5, 0, 1))
    doubled.write(tmp_path / "other.npz")
    result = runner.invoke(
        app, ["ensemble", str(trained_run), str(tmp_path / "other.npz"), "--out", str(tmp_path / "mean.npz")]
    )
    assert result.exit_code == 0, result.output
    mean = Predictions.read(tmp_path / "mean.npz")
    np.testing.assert_allclose(mean.scores, test.scores * 0.75, rtol=1e-6)
    partial = test.take(np.arange(3))
    partial.write(tmp_path / "partial.npz")
    bad = runner.invoke(app, ["ensemble", str(trained_run), str(tmp_path / "partial.npz"), "--out", "x.npz"])
    assert "scores other clips" in str(bad.exception)
    alone = runner.invoke(app, ["ensemble", str(trained_run), "--out", "x.npz"])
    assert "at least two" in str(alone.exception)


def test_a_refused_export_leaves_nothing_behind(trained_run, tmp_path, monkeypatch):
    import earmark.export

    monkeypatch.setattr(earmark.export, "TOLERANCE", -1.0)  # every comparison now fails
    loaded = load_run(trained_run)
    with pytest.raises(ExportError, match="differ from the PyTorch model"):
        export_model(loaded.model, loaded.spec, tmp_path / "out" / "model.pt", "torchscript")
    assert list((tmp_path / "out").iterdir()) == []
