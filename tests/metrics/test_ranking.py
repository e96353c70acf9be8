from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from metric_cases import labels_and_scores, naive_precisions
from sklearn.metrics import label_ranking_average_precision_score

from earmark.metrics import (
    UndefinedMetricError,
    lrap,
    lwlrap,
    lwlrap_class_weights,
    lwlrap_per_class,
)


def sklearn_lwlrap(y: np.ndarray, scores: np.ndarray) -> float:
    """The reference: sklearn LRAP weighted by positives per clip, clips without positives dropped."""
    keep = y.sum(axis=1) > 0
    return label_ranking_average_precision_score(y[keep], scores[keep], sample_weight=y[keep].sum(axis=1))


@settings(max_examples=150, deadline=None)
@given(labels_and_scores())
def test_lwlrap_equals_sklearn_lrap_weighted_by_positives(case):
    y, scores, _ = case
    if not y.any():
        with pytest.raises(UndefinedMetricError, match="no clip has a known positive"):
            lwlrap(y, scores)
        return
    assert lwlrap(y, scores) == pytest.approx(sklearn_lwlrap(y, scores), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(labels_and_scores(ties=True))
def test_lwlrap_with_ties_equals_sklearn(case):
    y, scores, _ = case
    if y.any():
        assert lwlrap(y, scores) == pytest.approx(sklearn_lwlrap(y, scores), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(labels_and_scores(ties=True))
def test_lrap_equals_sklearn_on_clips_with_positives(case):
    y, scores, _ = case
    keep = y.sum(axis=1) > 0
    if keep.any():
        expected = label_ranking_average_precision_score(y[keep], scores[keep])
        assert lrap(y, scores) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(labels_and_scores())
def test_per_class_weighted_by_class_weights_gives_overall(case):
    y, scores, _ = case
    if not y.any():
        return
    result = lwlrap_per_class(y, scores)
    weights = lwlrap_class_weights(y)
    np.testing.assert_allclose(result.weights, weights)
    assert weights.sum() == pytest.approx(1.0)
    has_positive = y.sum(axis=0) > 0
    assert np.array_equal(result.per_class.included, has_positive)
    weighted = float((result.per_class.values[has_positive] * weights[has_positive]).sum())
    assert weighted == pytest.approx(result.overall, abs=1e-12)


def test_per_class_lwlrap_on_paper():
    # Classes A, B, C; precision at a positive = positives scoring >= it / labels scoring >= it.
    #   clip 0: y = 1 0 1, s = .9 .5 .1 -> A: rank 1, 1 hit -> 1;   C: rank 3, 2 hits -> 2/3
    #   clip 1: y = 0 1 0, s = .8 .6 .2 -> B: rank 2, 1 hit -> 1/2
    #   clip 2: y = 1 1 0, s = .3 .7 .4 -> A: rank 3, 2 hits -> 2/3; B: rank 1 -> 1
    #   clip 3: y = 0 1 1, s = .2 .1 .6 -> B: rank 3, 2 hits -> 2/3; C: rank 1 -> 1
    # per class: A = (1 + 2/3) / 2 = 5/6; B = (1/2 + 1 + 2/3) / 3 = 13/18; C = (2/3 + 1) / 2 = 5/6
    # weights: positives 2, 3, 2 of 7 -> overall = 2/7 * 5/6 + 3/7 * 13/18 + 2/7 * 5/6 = 99/126 = 11/14
    # LRAP (mean over clips) = (5/6 + 1/2 + 5/6 + 5/6) / 4 = 3/4, not the same.
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 1, 1]], dtype=bool)
    scores = np.array([[0.9, 0.5, 0.1], [0.8, 0.6, 0.2], [0.3, 0.7, 0.4], [0.2, 0.1, 0.6]])
    result = lwlrap_per_class(y, scores, class_names=["A", "B", "C"])
    np.testing.assert_allclose(result.per_class.values, [5 / 6, 13 / 18, 5 / 6])
    np.testing.assert_allclose(result.weights, [2 / 7, 3 / 7, 2 / 7])
    assert result.overall == pytest.approx(11 / 14)
    assert lwlrap(y, scores) == pytest.approx(11 / 14)
    assert lrap(y, scores) == pytest.approx(3 / 4)
    assert result.per_class.excluded == {}


def test_ties_count_at_the_worst_rank():
    # clip 0: y = 1 0 1 0, s = .5 .5 .2 .2 -> class 0 tied with a negative: rank 2, 1 hit -> 1/2;
    #         class 2: all four score >= .2 -> rank 4, 2 hits -> 1/2
    # clip 1: all scores equal, one positive of four -> rank 4, 1 hit -> 1/4
    y = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=bool)
    scores = np.array([[0.5, 0.5, 0.2, 0.2], [0.3, 0.3, 0.3, 0.3]])
    assert lwlrap(y, scores) == pytest.approx((0.5 + 0.5 + 0.25) / 3)
    assert lrap(y, scores) == pytest.approx((0.5 + 0.25) / 2)
    assert lwlrap(y, scores) == pytest.approx(sklearn_lwlrap(y, scores))


@settings(max_examples=100, deadline=None)
@given(labels_and_scores(with_mask=True))
def test_masked_lwlrap_equals_the_definition_on_known_entries(case):
    y, scores, mask = case
    reference = naive_precisions(y, scores, mask)
    if not reference:
        with pytest.raises(UndefinedMetricError):
            lwlrap(y, scores, mask=mask)
        return
    assert lwlrap(y, scores, mask=mask) == pytest.approx(np.mean([p for _, _, p in reference]))
    per_class = lwlrap_per_class(y, scores, mask=mask).per_class.values
    for j in range(y.shape[1]):
        values = [p for _, c, p in reference if c == j]
        if values:
            assert per_class[j] == pytest.approx(np.mean(values))
        else:
            assert np.isnan(per_class[j])


@settings(max_examples=60, deadline=None)
@given(labels_and_scores(with_mask=True))
def test_masking_whole_columns_and_rows_equals_dropping_them(case):
    y, scores, mask = case
    columns = mask[0]  # reuse the drawn row as a column selection
    rows = mask[:, 0]
    if columns.sum() < 1 or rows.sum() < 1 or not y[np.ix_(rows, columns)].any():
        return
    block = np.outer(rows, columns)
    expected = sklearn_lwlrap(y[np.ix_(rows, columns)], scores[np.ix_(rows, columns)])
    assert lwlrap(y, scores, mask=block) == pytest.approx(expected)


def test_unknown_entries_may_hold_nan_scores():
    y = np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)
    scores = np.array([[0.9, np.nan, 0.1], [0.8, 0.6, 0.2]])
    mask = np.array([[True, False, True], [True, True, True]])
    # clip 0 ranks only classes 0 and 2: both positive -> 1, 1; clip 1: class 1 rank 2 -> 1/2
    assert lwlrap(y, scores, mask=mask) == pytest.approx(2.5 / 3)


@pytest.mark.parametrize(
    ("y", "scores", "mask", "message"),
    [
        (
            np.ones((3, 4), bool),
            np.zeros((3, 5)),
            None,
            r"scores have shape \(3, 5\) but y_true has shape \(3, 4\)",
        ),
        (np.ones(4, bool), np.zeros(4), None, "must be 2-D"),
        (
            np.eye(3, dtype=bool),
            np.array([[0, 1, np.nan], [0, 0, 0], [0, 0, 0]]),
            None,
            "clip 0, class '2' holds nan",
        ),
        (
            np.eye(3, dtype=bool),
            np.array([[0, 0, 0], [0, np.inf, 0], [0, 0, 0]]),
            None,
            "clip 1, class '1' holds inf",
        ),
        (np.eye(3, dtype=bool), np.zeros((3, 3)), np.ones((3, 2), bool), "mask has shape"),
        (np.eye(3, dtype=bool), np.zeros((3, 3)), np.ones((3, 3)), "mask must be boolean"),
        (np.eye(3) * 2, np.zeros((3, 3)), None, "only 0 and 1"),
        (np.zeros((0, 3), bool), np.zeros((0, 3)), None, "empty evaluation set"),
        (np.eye(3, dtype=bool), np.zeros((3, 3)), np.zeros((3, 3), bool), "empty evaluation set"),
        (np.zeros((3, 3), bool), np.zeros((3, 3)), None, "no clip has a known positive"),
    ],
)
def test_bad_input_raises(y, scores, mask, message):
    with pytest.raises(ValueError, match=message):
        lwlrap(y, scores, mask=mask)


def test_bad_class_names_and_weights_raise():
    y = np.eye(3, dtype=bool)
    with pytest.raises(ValueError, match="2 class names for 3 score columns"):
        lwlrap_per_class(y, np.zeros((3, 3)), class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"sample_weight has shape \(2,\)"):
        lrap(y, np.zeros((3, 3)), sample_weight=np.ones(2))
    with pytest.raises(UndefinedMetricError, match="class weights undefined"):
        lwlrap_class_weights(np.zeros((2, 2), bool))


def test_class_without_positives_is_excluded_by_name():
    y = np.array([[1, 0, 0], [0, 1, 0]], dtype=bool)
    result = lwlrap_per_class(y, np.random.default_rng(0).random((2, 3)), class_names=["dog", "cat", "owl"])
    assert result.per_class.excluded == {"owl": "no positives"}
    assert result.weights[2] == 0.0
    assert not np.isnan(result.per_class.macro)


def test_float32_and_float16_scores_give_the_float64_result(rng):
    y = rng.random((50, 7)) < 0.3
    y[0, 0] = True
    scores = rng.random((50, 7)).astype(np.float16)
    expected = lwlrap(y, scores.astype(np.float64))
    assert lwlrap(y, scores) == expected
    assert lwlrap(y, scores.astype(np.float32)) == expected
