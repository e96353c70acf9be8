"""Per-class thresholds: tuned on validation only, stored as thresholds.json, used by evaluate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import earmark
from earmark.cli import app
from earmark.data.labels import Labels
from earmark.metrics import f1_macro
from earmark.predictions import Predictions
from earmark.testing.prepared import make_prepared
from earmark.testing.recipes import tiny_recipe
from earmark.thresholds import Thresholds, ThresholdsError, read_thresholds, tune_thresholds

runner = CliRunner()


def labels_and_scores(rng: np.random.Generator, clips: int = 40) -> tuple[Labels, Predictions]:
    positive = rng.random((clips, 3)) < 0.3
    ids = [f"c{i}" for i in range(clips)]
    names = ("a", "b", "c")
    lists = [[names[k] for k in np.flatnonzero(row)] for row in positive]
    labels = Labels.from_lists(ids, lists, names)
    # scores informative but badly calibrated: every class sits far below 0.5
    scores = 0.05 + 0.2 * positive + 0.1 * rng.random((clips, 3))
    return labels, Predictions(np.array(ids), ("a", "b", "c"), scores)


def test_tuning_raises_the_validation_f1_and_round_trips(tmp_path, rng):
    labels, scores = labels_and_scores(rng)
    tuned = tune_thresholds(scores, labels, split="valid")
    assert tuned.figures["f1_macro_tuned"] > tuned.figures["f1_macro_at_0.5"]
    assert tuned.figures["f1_macro_tuned"] == pytest.approx(
        f1_macro(labels.positive, scores.scores, thresholds=tuned.values)
    )
    back = read_thresholds(tuned.write(tmp_path / "thresholds.json"))
    assert back.class_names == ("a", "b", "c")
    assert back.split == "valid"
    np.testing.assert_allclose(back.values, tuned.values, atol=1e-6)
    np.testing.assert_allclose(back.for_classes(["c", "a", "b"]), tuned.values[[2, 0, 1]], atol=1e-6)
    with pytest.raises(ThresholdsError, match=r"other classes than the model \(missing \['d'\]"):
        back.for_classes(["a", "b", "c", "d"])


def test_a_test_split_or_test_clips_are_refused(rng):
    labels, scores = labels_and_scores(rng)
    for split in ("test", "Test", "eval"):
        with pytest.raises(ThresholdsError, match="never tuned on the"):
            tune_thresholds(scores, labels, split=split)
    with pytest.raises(ThresholdsError, match="40 of these clips are in the run's test split"):
        tune_thresholds(scores, labels, split="valid", test_predictions=scores)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"thresholds": []}', "needs a 'thresholds' object"),
        ('{"thresholds": {"a": "high"}}', "must be a number"),
        ('{"thresholds": {"a": 1.5}}', r"probabilities in \[0, 1\]"),
    ],
)
def test_malformed_files_are_named(tmp_path, content, message):
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(ThresholdsError, match=message):
        read_thresholds(path)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("thresholds")
    prepared = make_prepared(root / "prepared", num_clips=30)
    data = {"prepared": str(prepared), "valid_folds": [2], "test_folds": [3]}
    earmark.train(tiny_recipe(prepared, data=data, epochs=2), root / "run")
    return root / "run", prepared / "labels.csv"


def evaluate(*args: object) -> str:
    result = runner.invoke(app, ["evaluate", *map(str, args), "--bootstrap", "0", "--no-plots"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_evaluate_tunes_on_validation_writes_the_run_and_refuses_test(run, tmp_path):
    directory, labels = run
    copy = tmp_path / "run"
    shutil.copytree(directory, copy)
    said = evaluate("--predictions", copy, "--labels", labels, "--out", tmp_path / "v", "--tune-thresholds")
    assert "tuned 4 thresholds on 10 valid clips" in said
    stored = read_thresholds(copy / "thresholds.json")
    assert stored.split == "valid"
    test_file = copy / "predictions" / "test.npz"
    with pytest.raises(ThresholdsError, match="never tuned on the 'test' split"):
        evaluate("--predictions", test_file, "--labels", labels, "--out", tmp_path / "t", "--tune-thresholds")
    with pytest.raises(ThresholdsError, match="never tuned on the 'test' split"):
        evaluate("--predictions", copy, "--split", "test", "--labels", labels, "--out", tmp_path / "t",
                 "--tune-thresholds")  # fmt: skip
    loose = tmp_path / "valid.npz"
    shutil.copy(copy / "predictions" / "valid.npz", loose)
    with pytest.raises(ValueError, match="give --thresholds-out"):
        evaluate("--predictions", loose, "--labels", labels, "--out", tmp_path / "l", "--tune-thresholds")
    # the test split at the tuned thresholds: reported beside the 0.5 figures
    said = evaluate("--predictions", copy, "--labels", labels, "--out", tmp_path / "t", "--thresholds",
                    copy / "thresholds.json")  # fmt: skip
    assert "at the thresholds of" in said
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    test_scores = Predictions.read(copy / "predictions" / "test.npz")
    aligned, kept = test_scores.align(earmark.read_labels(labels))
    expected = f1_macro(kept.positive, aligned.scores, thresholds=stored.for_classes(kept.class_names))
    assert metrics["tuned_thresholds"]["f1_macro"] == pytest.approx(expected)
    assert metrics["tuned_thresholds"]["split"] == "valid"


def test_thresholds_dataclass_checks_its_values():
    with pytest.raises(ThresholdsError, match="2 thresholds for 3 classes"):
        Thresholds(("a", "b", "c"), np.array([0.1, 0.2]))


def test_an_overwritten_run_loses_the_thresholds_of_its_old_model(run, tmp_path):
    directory, _ = run
    copy = tmp_path / "run"
    shutil.copytree(directory, copy)
    names = ("class0", "class1", "class2", "class3")
    Thresholds(names, np.full(4, 0.2), "valid").write(copy / "thresholds.json")
    config = earmark.load_run(copy).runs[0].config
    earmark.train(config, copy, overwrite=True)
    assert not (copy / "thresholds.json").exists()
    assert (copy / "MODEL_CARD.md").is_file()
