from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.cli import app, main
from earmark.data.labels import Labels
from earmark.data.table import write_labels
from earmark.metrics import lwlrap
from earmark.predictions import Predictions

runner = CliRunner()
CLASSES = ("dog", "rain", "siren", "bird")


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def dataset(tmp_path, rng):
    n = 60
    positive = rng.random((n, len(CLASSES))) < 0.35
    positive[np.arange(n), rng.integers(0, len(CLASSES), n)] = True
    clip_ids = [f"clip{i:02d}" for i in range(n)]
    labels = Labels.from_lists(clip_ids, [[CLASSES[j] for j in np.flatnonzero(r)] for r in positive], CLASSES)
    labels_path = write_labels(labels, tmp_path / "labels.csv")
    noise = rng.random(positive.shape)
    weak = Predictions(np.array(clip_ids, dtype=object), CLASSES, noise + positive * 0.1)
    strong = Predictions(np.array(clip_ids, dtype=object), CLASSES, noise + positive * 0.7)
    weak.write(tmp_path / "run_a" / "predictions.npz")
    strong.write(tmp_path / "run_b.npz")
    return labels, labels_path, weak, strong


def test_evaluate_writes_json_markdown_plots_and_html(tmp_path, dataset):
    labels, labels_path, weak, _ = dataset
    out = tmp_path / "eval"
    result = invoke(
        "evaluate", "--predictions", tmp_path / "run_a" / "predictions.npz", "--labels", labels_path,
        "--out", out, "--bootstrap", "20",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["summary"]["lwlrap"] == pytest.approx(lwlrap(labels.positive, weak.scores))
    assert re.search(rf"lwlrap\s+│?\s*{metrics['summary']['lwlrap']:.4f}", result.output)
    assert (out / "summary.md").read_text().startswith("# earmark evaluation")
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "per_class_average_precision.png",
        "precision_recall_curves.png",
    ]
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_evaluate_with_mask_and_groups(tmp_path, dataset):
    labels, _, weak, _ = dataset
    annotated = labels.annotated.copy()
    annotated[:10, 1] = labels.positive[:10, 1]
    partial_path = write_labels(labels.with_matrices(annotated=annotated), tmp_path / "partial.csv")
    groups = tmp_path / "groups.yaml"
    groups.write_text("dog: animal\nbird: animal\nrain: weather\n")
    out = tmp_path / "eval"
    result = invoke(
        "evaluate", "--predictions", tmp_path / "run_a" / "predictions.npz", "--labels", partial_path,
        "--out", out, "--mask", "on", "--groups", groups, "--bootstrap", "0", "--no-plots",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["summary"]["lwlrap"] == pytest.approx(lwlrap(labels.positive, weak.scores, mask=annotated))
    assert set(metrics["groups"]["average_precision"]) == {"animal", "weather", "(ungrouped)"}
    assert "intervals" not in metrics
    assert not (out / "plots").exists()


def test_compare_prints_the_paired_difference(tmp_path, dataset):
    labels, labels_path, weak, strong = dataset
    result = invoke(
        "compare", tmp_path / "run_a", tmp_path / "run_b.npz", "--labels", labels_path,
        "--metric", "lwlrap", "--metric", "auc_macro", "--resamples", "200",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "lwlrap" in line)
    numbers = re.findall(r"[+-]?\d+\.\d{4}", row)
    a, b, difference, low, high, p_value = map(float, numbers)
    assert a == pytest.approx(lwlrap(labels.positive, weak.scores), abs=1e-4)
    assert b == pytest.approx(lwlrap(labels.positive, strong.scores), abs=1e-4)
    assert difference == pytest.approx(b - a, abs=2e-4)
    assert 0 < low < difference < high
    assert p_value < 0.05
    assert any("auc_macro" in line for line in result.output.splitlines())


def write_raw_predictions(path, clip_ids, class_names, scores):
    np.savez(
        path,
        format_version=np.array(1),
        clip_ids=np.array(clip_ids),
        class_names=np.array(class_names),
        scores=np.asarray(scores, dtype=np.float32),
        frontend_hash=np.array(""),
    )
    return path


@pytest.mark.parametrize(
    ("clip_ids", "class_names", "scores", "message"),
    [
        (
            ["clip00", "nope"],
            CLASSES,
            np.zeros((2, 4)),
            "clip 'nope' of the predictions is not in the labels",
        ),
        (["clip00"], ("dog", "rain", "siren", "owl"), np.zeros((1, 4)), r"only in predictions \['owl'\]"),
        (
            ["clip00", "clip01"],
            CLASSES,
            [[0, 1, np.nan, 0], [0, 0, 0, 0]],
            "clip 'clip00', class 'siren' is nan",
        ),
        (["clip00"], CLASSES, np.zeros((1, 3)), r"scores have shape \(1, 3\)"),
        ([], CLASSES, np.zeros((0, 4)), "empty evaluation set"),
    ],
)
def test_evaluate_bad_input_raises(tmp_path, dataset, clip_ids, class_names, scores, message):
    path = write_raw_predictions(tmp_path / "bad.npz", clip_ids, class_names, scores)
    result = invoke("evaluate", "--predictions", path, "--labels", dataset[1], "--out", tmp_path / "o")
    assert result.exit_code != 0
    assert isinstance(result.exception, ValueError)
    with pytest.raises(ValueError, match=message):
        raise result.exception


def test_compare_refuses_different_clips_and_empty_run_dirs(tmp_path, dataset):
    _, labels_path, weak, _ = dataset
    weak.take(np.arange(10)).write(tmp_path / "short.npz")
    result = invoke("compare", tmp_path / "run_a", tmp_path / "short.npz", "--labels", labels_path)
    with pytest.raises(ValueError, match=r"the runs predict different clips \(50 only in A"):
        raise result.exception
    (tmp_path / "empty_run").mkdir()
    result = invoke("compare", tmp_path / "empty_run", tmp_path / "short.npz", "--labels", labels_path)
    with pytest.raises(ValueError, match=r"holds none of predictions/test\.npz, predictions\.npz"):
        raise result.exception
    result = invoke(
        "compare", tmp_path / "run_a", tmp_path / "run_b.npz", "--labels", labels_path, "--metric", "nope"
    )
    with pytest.raises(ValueError, match=r"unknown metric 'nope'; valid metrics: lwlrap"):
        raise result.exception


def test_console_script_prints_one_line_and_exits_2(tmp_path, dataset, monkeypatch, capsys):
    path = write_raw_predictions(tmp_path / "bad.npz", ["zzz"], CLASSES, np.zeros((1, 4)))
    argv = [
        "earmark",
        "evaluate",
        "--predictions",
        str(path),
        "--labels",
        str(dataset[1]),
        "--out",
        str(tmp_path),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert "clip 'zzz' of the predictions is not in the labels" in capsys.readouterr().err
