"""``earmark evaluate`` on the real ESC-10 store, with simple numpy scores (no training yet).

Scores: mean-pooled log-mel frames, a fixed seeded random projection, then nearest class
centroid fitted on folds 1-4 and a softmax over negative squared distances; fold 5 is evaluated.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.cli import app
from earmark.data.table import read_labels
from earmark.features.store import FeatureStore
from earmark.metrics import accuracy, lwlrap
from earmark.predictions import Predictions

pytestmark = pytest.mark.realdata


def centroid_scores(
    features: np.ndarray, positive: np.ndarray, train: np.ndarray, *, seed: int
) -> np.ndarray:
    """Softmax over negative squared distances to class centroids of the training clips."""
    rng = np.random.default_rng(seed)
    projection = rng.standard_normal((features.shape[1], 32)) / np.sqrt(features.shape[1])
    projected = features @ projection
    mean, std = projected[train].mean(axis=0), projected[train].std(axis=0) + 1e-6
    projected = (projected - mean) / std
    counts = positive[train].sum(axis=0)
    centroids = (positive[train].T.astype(np.float64) @ projected[train]) / counts[:, None]
    distances = ((projected[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    logits = -distances
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def test_evaluate_on_real_esc10_fold5(esc10_prepared: Path, tmp_path: Path):
    labels = read_labels(esc10_prepared / "labels.csv")
    store = FeatureStore(esc10_prepared / "features" / "all")
    features = np.stack([store[clip].astype(np.float32).mean(axis=0) for clip in labels.clip_ids])
    train, test = labels.fold != 5, labels.fold == 5
    assert train.any()
    assert test.any()
    scores = centroid_scores(features, labels.positive, train, seed=0)
    Predictions(labels.clip_ids[test], labels.class_names, scores[test], store.frontend_hash).write(
        tmp_path / "run" / "predictions.npz"
    )

    out = tmp_path / "eval"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--predictions",
            str(tmp_path / "run" / "predictions.npz"),
            "--labels",
            str(esc10_prepared / "labels.csv"),
            "--out",
            str(out),
            "--bootstrap",
            "50",
        ],
    )
    assert result.exit_code == 0, result.output

    metrics = json.loads((out / "metrics.json").read_text())
    num_classes = labels.num_classes
    assert metrics["counts"]["num_clips"] == int(test.sum())
    assert metrics["counts"]["num_classes"] == num_classes
    assert metrics["inputs"]["frontend_hash"] == store.frontend_hash
    summary = metrics["summary"]
    y_test = labels.positive[test]
    assert summary["lwlrap"] == pytest.approx(lwlrap(y_test, scores[test]), abs=1e-6)
    assert summary["accuracy"] == pytest.approx(accuracy(y_test, scores[test]))
    # single-label: every clip has one positive, so lwlrap equals LRAP
    assert summary["lwlrap"] == pytest.approx(summary["lrap"])
    # well above chance (1 / classes) for a centroid classifier on real features
    assert summary["accuracy"] > 2.5 / num_classes
    assert summary["auc_macro"] > 0.7
    assert summary["ap_macro"] > 2.5 / num_classes
    top_k = metrics["single_label"]["top_k_accuracy"]
    assert top_k["1"] <= top_k["3"] <= top_k["5"] <= 1.0
    interval = metrics["intervals"]["lwlrap"]
    assert interval["low"] <= summary["lwlrap"] <= interval["high"]
    assert all(v is not None for v in metrics["per_class"]["average_precision"]["per_class"].values())

    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "confusion_matrix.png",
        "per_class_average_precision.png",
        "precision_recall_curves.png",
    ]
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    for name in labels.class_names:
        assert name.replace("&", "&amp;") in page
    assert "| lwlrap |" in (out / "summary.md").read_text()
