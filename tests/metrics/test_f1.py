from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_cases import labels_and_scores, sk_columns
from sklearn.metrics import f1_score

from earmark.metrics import f1_macro, f1_per_class, openmic_paper_f1, tune_f1_thresholds


@settings(max_examples=120, deadline=None)
@given(labels_and_scores(), st.floats(-50, 50))
def test_f1_equals_sklearn(case, threshold):
    y, scores, _ = case
    columns = np.flatnonzero(y.sum(axis=0) > 0)
    if len(columns) == 0:
        return
    predicted = scores >= threshold
    result = f1_per_class(y, scores, thresholds=threshold)
    y_sk, predicted_sk = sk_columns(y, columns), sk_columns(predicted, columns)
    average = "binary" if len(columns) == 1 else None
    expected = f1_score(y_sk, predicted_sk, average=average, zero_division=0)
    np.testing.assert_allclose(result.values[columns], np.atleast_1d(expected))
    average = "binary" if len(columns) == 1 else "macro"
    assert f1_macro(y, scores, thresholds=threshold) == pytest.approx(
        f1_score(y_sk, predicted_sk, average=average, zero_division=0)
    )
    assert set(result.excluded) == {str(j) for j in np.flatnonzero(y.sum(axis=0) == 0)}


@settings(max_examples=80, deadline=None)
@given(labels_and_scores(with_mask=True))
def test_per_class_thresholds_and_mask_equal_sklearn_on_known_entries(case):
    y, scores, mask = case
    thresholds = np.linspace(-50, 50, y.shape[1])
    columns = np.flatnonzero((y & mask).sum(axis=0) > 0)
    if len(columns) == 0:
        return
    result = f1_per_class(y, scores, thresholds=thresholds, mask=mask)
    for j in columns:
        known = mask[:, j]
        expected = f1_score(y[known, j], scores[known, j] >= thresholds[j], zero_division=0)
        assert result.values[j] == pytest.approx(expected)


@settings(max_examples=80, deadline=None)
@given(labels_and_scores(with_mask=True))
def test_openmic_paper_f1_is_binary_macro_f1_per_instrument(case):
    y, scores, mask = case
    both = np.flatnonzero(((y & mask).sum(axis=0) > 0) & ((~y & mask).sum(axis=0) > 0))
    if len(both) == 0:
        return
    result = openmic_paper_f1(y, scores, thresholds=0.0, mask=mask)
    for j in both:
        known = mask[:, j]
        expected = f1_score(y[known, j], scores[known, j] >= 0.0, average="macro", zero_division=0)
        assert result.values[j] == pytest.approx(expected)
    assert len(result.excluded) == y.shape[1] - len(both)


@settings(max_examples=80, deadline=None)
@given(labels_and_scores(ties=True, with_mask=True))
def test_tuned_thresholds_reach_the_best_f1_on_validation(case):
    y, scores, mask = case
    if not mask.any():
        with pytest.raises(ValueError, match="empty evaluation set"):
            tune_f1_thresholds(y, scores, mask=mask)
        return
    thresholds = tune_f1_thresholds(y, scores, mask=mask, fallback=0.25)
    reached = f1_per_class(y, scores, thresholds=thresholds, mask=mask) if (y & mask).any() else None
    for j in range(y.shape[1]):
        known = mask[:, j]
        if not (y[known, j]).any():
            assert thresholds[j] == 0.25
            continue
        candidates = np.unique(scores[known, j])
        best = max(f1_score(y[known, j], scores[known, j] >= t, zero_division=0) for t in candidates)
        assert reached is not None
        assert reached.values[j] == pytest.approx(best)


def test_tuned_threshold_lies_between_kept_and_next_score():
    # class 0: positives .9 .7, negatives .8 .2 -> keeping >= .7 gives F1 = 2*2 / (3 + 2) = 0.8,
    # keeping >= .9 gives 2*1 / (1 + 2) = 2/3 -> cut between .7 and the next lower score .2
    y = np.array([[1], [0], [1], [0]], dtype=bool)
    scores = np.array([[0.9], [0.8], [0.7], [0.2]])
    assert tune_f1_thresholds(y, scores)[0] == pytest.approx(0.45)


def test_bad_thresholds_raise():
    y = np.eye(3, dtype=bool)
    with pytest.raises(ValueError, match=r"thresholds have shape \(2,\)"):
        f1_per_class(y, np.zeros((3, 3)), thresholds=np.zeros(2))
    with pytest.raises(ValueError, match="threshold of class 1 is NaN"):
        f1_per_class(y, np.zeros((3, 3)), thresholds=np.array([0.5, np.nan, 0.5]))
