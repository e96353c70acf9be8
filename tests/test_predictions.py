from __future__ import annotations

import numpy as np
import pytest

from earmark.data.labels import Labels
from earmark.predictions import Predictions, PredictionsError, read_predictions
from earmark.spec import SpecMismatchError, TaggingSpec


def make(rng: np.random.Generator, clips=("a", "b", "c"), classes=("dog", "cat")) -> Predictions:
    return Predictions(np.array(clips, dtype=object), classes, rng.random((len(clips), len(classes))))


def test_npz_round_trip_keeps_everything_and_leaves_no_temporary(tmp_path, rng):
    spec = TaggingSpec(class_names=("dog", "cat"))
    predictions = Predictions.from_spec(spec, ["a", "b", "c"], rng.random((3, 2)))
    path = predictions.write(tmp_path / "run" / "predictions.npz")
    loaded = read_predictions(path)
    assert loaded.scores.dtype == np.float32
    np.testing.assert_array_equal(loaded.scores, predictions.scores)
    assert loaded.clip_ids.tolist() == ["a", "b", "c"]
    assert loaded.class_names == ("dog", "cat")
    assert loaded.frontend_hash == spec.frontend_hash
    loaded.check_spec(spec)
    assert [p.name for p in path.parent.iterdir()] == ["predictions.npz"]


def test_csv_export_round_trips_float32_exactly(tmp_path, rng):
    predictions = make(rng)
    loaded = Predictions.read(predictions.write_csv(tmp_path / "scores.csv"))
    np.testing.assert_array_equal(loaded.scores, predictions.scores)
    assert loaded.frontend_hash == ""
    assert (tmp_path / "scores.csv").read_text().splitlines()[0] == "clip_id,dog,cat"


def test_spec_mismatch_raises(rng):
    predictions = Predictions.from_spec(TaggingSpec(class_names=("dog", "cat")), ["a"], rng.random((1, 2)))
    with pytest.raises(SpecMismatchError, match="class names or their order differ"):
        predictions.check_spec(TaggingSpec(class_names=("cat", "dog")))
    other = Predictions(predictions.clip_ids, predictions.class_names, predictions.scores, "0123abcd")
    with pytest.raises(SpecMismatchError, match="front-end hash 0123abcd"):
        other.check_spec(TaggingSpec(class_names=("dog", "cat")))


@pytest.mark.parametrize(
    ("clips", "scores", "message"),
    [
        (["a", "b"], np.array([[0.1, np.nan], [0.2, 0.3]]), "clip 'a', class 'cat' is nan"),
        (["a", "b"], np.array([[0.1, 0.2], [-np.inf, 0.3]]), "clip 'b', class 'dog' is -inf"),
        (["a", "a"], np.zeros((2, 2)), "duplicated clip id 'a'"),
        (["a", "b"], np.zeros((2, 3)), r"scores have shape \(2, 3\), expected \(clips, classes\) = \(2, 2\)"),
    ],
)
def test_bad_predictions_raise(clips, scores, message):
    with pytest.raises(PredictionsError, match=message):
        Predictions(np.array(clips, dtype=object), ("dog", "cat"), scores)


def test_bad_files_raise(tmp_path, rng):
    with pytest.raises(PredictionsError, match="predictions file not found"):
        Predictions.read(tmp_path / "absent.npz")
    (tmp_path / "scores.txt").write_text("x")
    with pytest.raises(PredictionsError, match=r"must end in \.npz or \.csv"):
        Predictions.read(tmp_path / "scores.txt")
    np.savez(tmp_path / "other.npz", scores=np.zeros((1, 1)))
    with pytest.raises(PredictionsError, match="not a predictions file"):
        Predictions.read(tmp_path / "other.npz")
    predictions = make(rng)
    path = predictions.write(tmp_path / "p.npz")
    with np.load(path) as data:
        arrays = dict(data)
    np.savez(path, **{**arrays, "format_version": np.array(99)})
    with pytest.raises(PredictionsError, match="format version 99"):
        Predictions.read(path)
    (tmp_path / "bad.csv").write_text("clip_id,dog\na,0.5\nb,oops\n")
    with pytest.raises(PredictionsError, match="a score is not a number"):
        Predictions.read(tmp_path / "bad.csv")


def labels(clips, classes=("cat", "dog")) -> Labels:
    return Labels.from_lists(clips, [[classes[i % len(classes)]] for i in range(len(clips))], classes)


def test_align_reorders_clips_and_classes_and_takes_the_labels_subset(rng):
    predictions = make(rng, clips=("c", "a"))
    aligned, kept = predictions.align(labels(["a", "b", "c"]))
    assert kept.clip_ids.tolist() == ["a", "c"]
    assert aligned.clip_ids.tolist() == ["a", "c"]
    assert aligned.class_names == ("cat", "dog")
    np.testing.assert_array_equal(aligned.scores, predictions.scores[[1, 0]][:, [1, 0]])


def test_align_mismatches_raise_naming_the_clip_or_class(rng):
    with pytest.raises(PredictionsError, match=r"clip 'z' of the predictions is not in the labels \(1 of 2"):
        make(rng, clips=("a", "z")).align(labels(["a", "b"]))
    with pytest.raises(PredictionsError, match=r"only in predictions \['owl'\], only in labels \['dog'\]"):
        make(rng, clips=("a",), classes=("cat", "owl")).align(labels(["a"]))
    with pytest.raises(PredictionsError, match=r"clip 'b' of the labels has no prediction \(1 of 2"):
        make(rng, clips=("a",)).align(labels(["a", "b"]), allow_subset=False)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 cut short", b"not a zip at all"])
def test_an_empty_or_cut_npz_is_a_named_error(tmp_path, content):
    path = tmp_path / "scores.npz"
    path.write_bytes(content)
    with pytest.raises(PredictionsError, match=r"scores\.npz: not a readable \.npz predictions file"):
        Predictions.read(path)
