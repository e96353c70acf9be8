from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm

from earmark.metrics import accuracy, confusion_matrix, top_k_accuracy


@st.composite
def single_label(draw):
    n, k = draw(st.integers(2, 30)), draw(st.integers(3, 8))
    truth = draw(arrays(np.int64, n, elements=st.integers(0, k - 1)))
    scores = draw(arrays(np.float64, (n, k), elements=st.floats(-10, 10, allow_subnormal=False), unique=True))
    return truth, np.eye(k, dtype=bool)[truth], scores


@settings(max_examples=100, deadline=None)
@given(single_label(), st.integers(1, 4))
def test_accuracy_and_top_k_equal_sklearn(case, k):
    truth, y, scores = case
    assert accuracy(y, scores) == pytest.approx(skm.accuracy_score(truth, scores.argmax(axis=1)))
    if k < y.shape[1]:
        expected = skm.top_k_accuracy_score(truth, scores, k=k, labels=np.arange(y.shape[1]))
        assert top_k_accuracy(y, scores, k=k) == pytest.approx(expected)
    else:
        assert top_k_accuracy(y, scores, k=k) == 1.0
    np.testing.assert_array_equal(
        confusion_matrix(y, scores),
        skm.confusion_matrix(truth, scores.argmax(axis=1), labels=np.arange(y.shape[1])),
    )


def test_two_classes_accuracy_equals_sklearn(rng):
    truth = rng.integers(0, 2, 40)
    scores = rng.random((40, 2))
    assert accuracy(np.eye(2, dtype=bool)[truth], scores) == skm.accuracy_score(truth, scores.argmax(1))


def test_ties_count_against_the_clip():
    # clip 0: true class 0 ties with class 1 at the top -> 2 classes score >= it: a miss at k=1, hit at k=2
    # clip 1: true class 2 is alone at the top -> hit
    y = np.array([[1, 0, 0], [0, 0, 1]], dtype=bool)
    scores = np.array([[0.5, 0.5, 0.1], [0.1, 0.2, 0.9]])
    assert accuracy(y, scores) == 0.5
    assert top_k_accuracy(y, scores, k=2) == 1.0


def test_mask_limits_the_candidates_and_drops_unlabeled_clips():
    y = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0]], dtype=bool)
    scores = np.array([[0.5, 0.1, 0.9], [0.9, 0.1, 0.1], [0.2, 0.3, 0.1]])
    mask = np.array([[True, True, False], [True, True, True], [True, True, True]])
    # clip 0: class 2 (score .9) is unknown, so class 0 wins; clip 1 has no positive: left out
    assert accuracy(y, scores, mask=mask) == 1.0
    assert confusion_matrix(y, scores, mask=mask).sum() == 2


def test_bad_single_label_input_raises():
    scores = np.zeros((2, 3))
    with pytest.raises(ValueError, match="clip 1 has 2 positive labels"):
        accuracy(np.array([[1, 0, 0], [0, 1, 1]]), scores)
    with pytest.raises(ValueError, match="clip 0 has no positive label"):
        accuracy(np.array([[0, 0, 0], [0, 1, 0]]), scores)
    with pytest.raises(ValueError, match="k must be at least 1"):
        top_k_accuracy(np.eye(2, dtype=bool), np.zeros((2, 2)), k=0)
    with pytest.raises(ValueError, match="empty evaluation set"):
        accuracy(np.eye(2, dtype=bool), np.zeros((2, 2)), mask=np.array([[False, True], [True, False]]))
