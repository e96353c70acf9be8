"""The filter rules on small hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from earmark.pipeline.filters import (
    best_per_class,
    flag_by_rank,
    flag_by_threshold,
    per_class_thresholds,
    threshold_agreement,
    top_k_agreement,
)

# 4 clips x 4 classes
POSITIVE = np.array(
    [
        [1, 0, 0, 0],  # its label is the model's top class
        [0, 1, 1, 0],  # one label in the top 2, one not
        [0, 0, 0, 1],  # its label is ranked last
        [0, 0, 0, 0],  # no label
    ],
    dtype=bool,
)
SCORES = np.array(
    [
        [0.9, 0.1, 0.2, 0.3],
        [0.35, 0.3, 0.8, 0.05],  # class 2 first, class 1 third
        [0.5, 0.4, 0.3, 0.2],
        [0.9, 0.9, 0.9, 0.9],
    ]
)


def test_top_k_agreement_keeps_clips_with_a_label_in_the_top_k_and_reduces_labels():
    keep, reduced = top_k_agreement(POSITIVE, SCORES, k=2)
    assert keep.tolist() == [True, True, False, False]
    assert reduced.astype(int).tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    keep, reduced = top_k_agreement(POSITIVE, SCORES, k=3)
    assert keep.tolist() == [True, True, False, False]
    assert reduced[1].astype(int).tolist() == [0, 1, 1, 0]  # class 1 is third: now in
    keep, _ = top_k_agreement(POSITIVE, SCORES, k=4)
    assert keep.tolist() == [True, True, True, False]  # every class is in the top 4


def test_top_k_ties_go_to_the_lower_class_index():
    keep, _ = top_k_agreement([[0, 1], [1, 0]], [[0.5, 0.5], [0.5, 0.5]], k=1)
    assert keep.tolist() == [False, True]


def test_per_class_thresholds_are_quantiles_of_each_class_own_labeled_clips():
    positive = np.array([[1, 0], [1, 0], [1, 0], [1, 0], [0, 1]], dtype=bool)
    scores = np.array([[0.1, 0], [0.4, 0], [0.2, 0], [0.3, 0], [0, 0.05]])
    assert per_class_thresholds(positive, scores, quantile=0.25).tolist() == [0.1, 0.05]
    assert per_class_thresholds(positive, scores, quantile=0.5).tolist() == [0.2, 0.05]
    assert per_class_thresholds(positive, scores, quantile=1.0).tolist() == [0.4, 0.05]
    empty = per_class_thresholds(positive[:4], scores[:4], quantile=0.5)
    assert empty[1] == np.inf  # no clip labeled class 1: nothing passes
    keep, reduced = threshold_agreement(
        positive, scores, per_class_thresholds(positive, scores, quantile=0.5)
    )
    assert keep.tolist() == [False, True, True, True, True]
    assert reduced.sum() == 4


def test_threshold_agreement_with_one_value_or_one_per_class():
    keep, reduced = threshold_agreement(POSITIVE, SCORES, 0.5)
    assert keep.tolist() == [True, True, False, False]
    assert reduced[1].astype(int).tolist() == [0, 0, 1, 0]
    keep, _ = threshold_agreement(POSITIVE, SCORES, [0.95, 0.0, 0.9, 0.1])
    assert keep.tolist() == [False, True, True, False]


def test_flag_by_rank_and_by_threshold():
    suspicion = np.array([0.5, 2.0, -1.0, 2.0, -np.inf])
    assert flag_by_rank(suspicion, top=2).tolist() == [False, True, False, True, False]
    assert flag_by_rank(suspicion, top=1).tolist() == [False, True, False, False, False]  # tie: earlier
    assert flag_by_rank(suspicion, top=0.6).tolist() == [True, True, False, True, False]  # 3 of 5
    assert flag_by_rank(suspicion, top=5).tolist() == [True, True, True, True, False]  # -inf never
    assert flag_by_threshold(suspicion, minimum=0.0).tolist() == [True, True, False, True, False]
    with pytest.raises(ValueError, match=r"a share of clips to flag must be in \(0, 1\], got 1\.5"):
        flag_by_rank(suspicion, top=1.5)
    with pytest.raises(ValueError, match="the number of clips to flag must be >= 0"):
        flag_by_rank(suspicion, top=-1)


def test_best_per_class_takes_single_label_clips_of_highest_value():
    positive = np.array([[1, 0], [1, 0], [1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
    duration = np.array([3.0, 9.0, 5.0, 20.0, 1.0, 30.0])
    chosen = best_per_class(positive, duration, per_class=2)
    assert chosen.tolist() == [False, True, True, False, True, False]  # multi-label and empty never
    eligible = np.array([True, False, True, True, True, True])
    assert best_per_class(positive, duration, per_class=2, eligible=eligible).tolist() == [
        True,
        False,
        True,
        False,
        True,
        False,
    ]
    with pytest.raises(ValueError, match="per_class must be at least 1"):
        best_per_class(positive, duration, per_class=0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: top_k_agreement(POSITIVE, SCORES[:3], k=1),
        lambda: threshold_agreement(POSITIVE, SCORES[:, :2], 0.5),
        lambda: per_class_thresholds(POSITIVE[:, :1], SCORES, quantile=0.5),
    ],
)
def test_shapes_must_agree(call):
    with pytest.raises(ValueError, match=r"must be one \(clips, classes\) shape"):
        call()


def test_bad_values():
    with pytest.raises(ValueError, match="k must be at least 1"):
        top_k_agreement(POSITIVE, SCORES, k=0)
    with pytest.raises(ValueError, match="the scores hold NaN"):
        top_k_agreement(POSITIVE, np.where(SCORES > 0.8, np.nan, SCORES), k=1)
    with pytest.raises(ValueError, match=r"quantile must be in \[0, 1\]"):
        per_class_thresholds(POSITIVE, SCORES, quantile=2.0)
