"""The public API: load_run → Tagger (predict, timeline, ensembles, thresholds), train, evaluate."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import earmark
from earmark.config import ConfigError
from earmark.features.audio import load_audio
from earmark.testing import write_tone
from earmark.testing.prepared import make_prepared
from earmark.testing.recipes import tiny_recipe
from earmark.thresholds import Thresholds


def recipe(prepared: Path, **changes: object) -> dict[str, object]:
    data = {"prepared": str(prepared), "valid_folds": [2], "test_folds": [3]}
    return tiny_recipe(prepared, **{"data": data, **changes})


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("api")
    prepared = make_prepared(root / "prepared", num_clips=30)
    out = {"prepared": prepared}
    for name, seed in (("a", 0), ("b", 1)):
        earmark.train(recipe(prepared, seed=seed), root / name)
        out[name] = root / name
    other = make_prepared(root / "other", num_clips=12, num_classes=3)
    earmark.train(tiny_recipe(other), root / "other-run")
    out["other"] = root / "other-run"
    out["audio"] = write_tone(root / "tone.wav", duration_seconds=2.3, rng=np.random.default_rng(0))
    return out


def test_import_earmark_does_not_load_torch():
    code = "import sys, earmark; earmark.load_run; earmark.prepare; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_predict_a_file_and_its_samples_alike(runs):
    tagger = earmark.load_run(runs["a"])
    assert tagger.classes == ("class0", "class1", "class2", "class3")
    from_file = tagger.predict(runs["audio"])
    samples, rate = load_audio(runs["audio"])
    from_array = tagger.predict(samples, sample_rate=rate)
    np.testing.assert_allclose(from_array.scores, from_file.scores, atol=1e-5)
    assert from_file.scores.shape == (4,)
    top = from_file.top(2)
    assert top[0][1] >= top[1][1]
    assert {name for name, _ in top} <= set(tagger.classes)
    present = set(from_file.present)
    assert present == {c for c, s in from_file.as_dict().items() if s >= 0.5}


def test_arrays_at_other_rates_and_layouts(runs):
    tagger = earmark.load_run(runs["a"])
    samples, _ = load_audio(runs["audio"])
    stereo = np.stack([samples, samples])  # (channels, samples)
    np.testing.assert_allclose(
        tagger.predict(stereo, sample_rate=16000).scores, tagger.predict(samples, sample_rate=16000).scores
    )
    high = load_audio(write_tone(runs["audio"].parent / "t44.wav", duration_seconds=2.3, sample_rate=44100))[
        0
    ]
    assert tagger.predict(high, sample_rate=44100).scores.shape == (4,)
    with pytest.raises(ConfigError, match="needs its sample_rate"):
        tagger.predict(samples)
    with pytest.raises(ConfigError, match="NaN"):
        tagger.predict(np.full(1000, np.nan), sample_rate=16000)


def test_timeline_covers_the_file_and_its_scan_gives_the_clip_scores(runs):
    tagger = earmark.load_run(runs["a"])
    timeline = tagger.timeline(runs["audio"])
    assert timeline.scores.shape == (len(timeline.start_seconds), 4)
    assert timeline.start_seconds[0] == 0.0
    assert timeline.end_seconds[-1] == pytest.approx(timeline.duration_seconds)
    assert timeline.duration_seconds == pytest.approx(2.3, abs=0.05)  # whole frames
    assert np.all(np.diff(timeline.start_seconds) > 0)
    cells = timeline.cells()
    assert cells[0].start_seconds == 0.0
    assert cells[-1].end_seconds == pytest.approx(timeline.duration_seconds)
    tags, _ = tagger.scan(runs["audio"], lambda start, end, scores: None)
    np.testing.assert_allclose(tags.scores, tagger.predict(runs["audio"]).scores, atol=1e-6)
    for event in timeline.events(0.0):  # every class is present throughout at threshold 0
        assert (event.onset_seconds, event.offset_seconds) == (0.0, pytest.approx(timeline.duration_seconds))


def test_several_runs_average_their_scores(runs, tmp_path):
    both = earmark.load_run([runs["a"], runs["b"]])
    singles = [earmark.load_run(runs[name]) for name in ("a", "b")]
    expected = np.mean([t.predict(runs["audio"]).scores for t in singles], axis=0)
    np.testing.assert_allclose(both.predict(runs["audio"]).scores, expected, atol=1e-6)
    timelines = [t.timeline(runs["audio"]).scores for t in singles]
    np.testing.assert_allclose(both.timeline(runs["audio"]).scores, np.mean(timelines, axis=0), atol=1e-6)
    cv = tmp_path / "cv"
    for fold, name in ((1, "a"), (2, "b")):
        shutil.copytree(runs[name], cv / f"fold-{fold}")
    from_cv = earmark.load_run(cv)
    assert len(from_cv.runs) == 2
    np.testing.assert_allclose(from_cv.predict(runs["audio"]).scores, expected, atol=1e-6)


def test_runs_with_other_classes_do_not_ensemble(runs, tmp_path):
    with pytest.raises(ConfigError, match="other classes"):
        earmark.load_run([runs["a"], runs["other"]])
    with pytest.raises(FileNotFoundError, match=r"not a training run .* nor a cross-validation directory"):
        earmark.load_run(tmp_path)


def test_runs_with_another_front_end_do_not_ensemble(runs, tmp_path):
    # the same four classes, but 20 mel bands instead of 16: the scores would not be comparable
    prepared = make_prepared(tmp_path / "prepared", num_clips=12, n_mels=20)
    earmark.train(tiny_recipe(prepared), tmp_path / "run")
    with pytest.raises(ConfigError, match=r"another front-end .* an ensemble needs one front-end"):
        earmark.load_run([runs["a"], tmp_path / "run"])


def test_tuned_thresholds_are_the_default_and_can_be_overridden(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["a"], run)
    assert np.all(earmark.load_run(run).thresholds == 0.5)
    values = np.array([0.1, 0.2, 0.3, 0.4])
    Thresholds(("class0", "class1", "class2", "class3"), values, "valid").write(run / "thresholds.json")
    np.testing.assert_allclose(earmark.load_run(run).thresholds, values)
    assert np.all(earmark.load_run(run, thresholds=0.7).thresholds == 0.7)
    tags = earmark.load_run(run).predict(runs["audio"])
    assert set(tags.present) == {
        c for c, s, t in zip(tags.classes, tags.scores, values, strict=True) if s >= t
    }
    with pytest.raises(ConfigError, match="probabilities"):
        earmark.load_run(run, thresholds=1.5)


def test_train_takes_overrides_and_names_a_bad_key(runs, tmp_path):
    summary = earmark.train(recipe(runs["prepared"]), tmp_path / "r", overrides=["epochs=2"])
    assert summary["steps"] == 2 * summary["batch"]["steps_per_epoch"]
    with pytest.raises(ConfigError, match="epochz"):
        earmark.train(recipe(runs["prepared"]), tmp_path / "bad", overrides=["epochz=2"])


def test_evaluate_a_run_with_tuned_thresholds(runs, tmp_path):
    labels = runs["prepared"] / "labels.csv"
    evaluation = earmark.evaluate(runs["a"], labels, out=tmp_path / "evaluation")
    assert evaluation.labels.num_clips == 10  # fold 3 of 30 clips
    assert (tmp_path / "evaluation" / "metrics.json").is_file()
    thresholds = Thresholds(evaluation.labels.class_names, np.full(4, 0.3), "valid")
    tuned = earmark.evaluate(runs["a"], labels, thresholds=thresholds).metrics["tuned_thresholds"]
    at_03 = earmark.evaluate(runs["a"], labels, thresholds=0.3).metrics["summary"]["f1_macro"]
    assert tuned["f1_macro"] == pytest.approx(at_03)
