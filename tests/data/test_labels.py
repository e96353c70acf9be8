from __future__ import annotations

import numpy as np
import pytest

from earmark.data.labels import LabelError, Labels
from earmark.data.table import read_labels, write_labels


def small() -> Labels:
    return Labels.from_lists(
        ["a", "b", "c", "d"],
        [["dog"], ["rain", "dog"], [], ["rain"]],
        ["dog", "rain", "wind"],
        source=["curated", "curated", "noisy", "unlabeled"],
        fold=[1, 2, 1, 3],
        duration_seconds=[1.0, 2.0, 3.0, float("nan")],
    )


def test_from_lists_complete_and_positives_only():
    labels = small()
    assert labels.positive.sum() == 4
    assert labels.annotated.all()
    sparse = Labels.from_lists(
        ["a", "b"],
        [["dog"], []],
        ["dog", "rain"],
        annotation="positives_only",
        negatives=[[], ["rain"]],
    )
    assert sparse.annotated.tolist() == [[True, False], [False, True]]
    assert sparse.missing.tolist() == [[False, True], [True, False]]
    assert sparse.negative.tolist() == [[False, False], [False, True]]


def test_summary_counts():
    summary = small().with_matrices(annotated=small().positive | np.eye(4, 3, dtype=bool)).summary()
    assert summary.num_clips == 4
    assert summary.positives_per_class == {"dog": 2, "rain": 2, "wind": 0}
    assert summary.clips_per_source == {"curated": 2, "noisy": 1, "unlabeled": 1}
    assert summary.folds == [1, 2, 3]
    assert summary.label_density == pytest.approx(1.0)
    # annotated: positives (4) plus the diagonal entries (0,0) (1,1) (2,2): (0,0),(1,1) already positive
    assert summary.fraction_missing == pytest.approx(1 - 5 / 12)
    assert summary.total_duration_seconds == pytest.approx(6.0)


def test_select_by_fold_source_and_ids():
    labels = small()
    assert labels.select(folds=[1]).clip_ids.tolist() == ["a", "c"]
    assert labels.select(exclude_folds=[1]).clip_ids.tolist() == ["b", "d"]
    assert labels.select(sources=["noisy", "unlabeled"]).clip_ids.tolist() == ["c", "d"]
    assert labels.select(clip_ids=["d", "a"], folds=[3]).clip_ids.tolist() == ["d"]
    with pytest.raises(LabelError, match="unknown fold 7"):
        labels.select(folds=[7])
    with pytest.raises(LabelError, match="unknown source 'trusted'"):
        labels.select(sources=["trusted"])
    with pytest.raises(LabelError, match="unknown clip id 'z'"):
        labels.select(clip_ids=["z"])


def test_merge_makes_foreign_classes_missing():
    a = Labels.from_lists(["x"], [["dog"]], ["dog", "rain"])
    b = Labels.from_lists(["y"], [["siren"]], ["siren", "dog"], source="noisy")
    merged = Labels.merge(a, b)
    assert merged.class_names == ("dog", "rain", "siren")
    assert merged.positive.tolist() == [[True, False, False], [False, False, True]]
    assert merged.annotated.tolist() == [[True, True, False], [True, False, True]]
    assert merged.source.tolist() == ["curated", "noisy"]
    with pytest.raises(LabelError, match="duplicated clip id 'x'"):
        Labels.merge(a, a)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: Labels.from_lists(["a", "a"], [["dog"], ["dog"]], ["dog"]),
            "duplicated clip id 'a'",
        ),
        (
            lambda: Labels.from_lists(["a"], [["cat"]], ["dog"]),
            "clip 'a' names unknown class 'cat'",
        ),
        (
            lambda: Labels.from_lists(["a"], [["dog"]], ["dog"], source="trusted"),
            "unknown source 'trusted'",
        ),
        (lambda: Labels.from_lists(["a", "b"], [["dog"]], ["dog"]), "1 label lists for 2 clips"),
        (lambda: small().with_matrices(annotated=np.zeros((4, 3), bool)), "not annotated"),
        (
            lambda: small().with_matrices(positive=np.zeros((4, 2), bool)),
            r"positive has shape \(4, 2\)",
        ),
    ],
)
def test_inconsistent_labels_are_refused(build, message):
    with pytest.raises(LabelError, match=message):
        build()


def test_labels_are_read_only():
    labels = small()
    with pytest.raises(ValueError, match="read-only"):
        labels.positive[0, 0] = False


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".npz"])
def test_label_table_round_trip(tmp_path, suffix):
    labels = Labels.merge(
        small(), Labels.from_lists(["e"], [["a, b"]], ["a, b"], annotation="positives_only")
    )
    path = write_labels(labels, tmp_path / f"labels{suffix}")
    assert read_labels(path).equals(labels)


def test_label_table_bad_files(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("clip_id,source,fold,duration_seconds,dog\na,curated,1,,2\n")
    with pytest.raises(LabelError, match=r"line 2, class 'dog': '2' is not 1, 0 or empty"):
        read_labels(path)
    path.write_text("id,dog\n")
    with pytest.raises(LabelError, match="header must start with"):
        read_labels(path)
    path.write_text("clip_id,source,fold,duration_seconds,dog\na,curated,x,,1\n")
    with pytest.raises(LabelError, match="fold 'x' is not an integer"):
        read_labels(path)
    path.write_text("clip_id,source,fold,duration_seconds,dog\na,curated,1,,1\na,curated,1,,1\n")
    with pytest.raises(LabelError, match="duplicated clip id 'a'"):
        read_labels(path)
    path.write_text("clip_id,source,fold,duration_seconds,dog\na,curated,1\n")
    with pytest.raises(LabelError, match="3 cells, the header has 5"):
        read_labels(path)
    path.write_text("")
    with pytest.raises(LabelError, match="is empty"):
        read_labels(path)
    with pytest.raises(LabelError, match="not found"):
        read_labels(tmp_path / "absent.csv")
    with pytest.raises(LabelError, match=r"must end in \.csv"):
        write_labels(small(), tmp_path / "labels.txt")
    with pytest.raises(LabelError, match="collides"):
        write_labels(Labels.from_lists(["a"], [["fold"]], ["fold"]), tmp_path / "l.csv")


@pytest.mark.parametrize("duration", ["inf", "-1", "nan", "long"])
def test_a_duration_that_is_not_finite_seconds_is_refused(tmp_path, duration):
    path = tmp_path / "labels.csv"
    path.write_text(f"clip_id,source,fold,duration_seconds,dog\na,curated,1,{duration},1\nb,curated,1,,0\n")
    with pytest.raises(LabelError, match=rf"line 2: duration_seconds '{duration}' is not a finite number"):
        read_labels(path)
    path.write_text("clip_id,source,fold,duration_seconds,dog\na,curated,1,2.5,1\nb,curated,1,,0\n")
    durations = read_labels(path).duration_seconds
    assert durations[0] == 2.5
    assert np.isnan(durations[1])
