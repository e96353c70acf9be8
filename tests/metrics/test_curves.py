from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from metric_cases import labels_and_scores, scored_columns, sk_columns
from sklearn import metrics as skm

from earmark.metrics import (
    UndefinedMetricError,
    average_precision_macro,
    average_precision_micro,
    average_precision_per_class,
    d_prime,
    d_prime_per_class,
    precision_recall_curve,
    roc_auc_macro,
    roc_auc_micro,
    roc_auc_per_class,
)


@settings(max_examples=120, deadline=None)
@given(labels_and_scores())
def test_average_precision_equals_sklearn(case):
    y, scores, _ = case
    columns = scored_columns(y)
    if len(columns) == 0:
        with pytest.raises(UndefinedMetricError, match="no class can be scored"):
            average_precision_per_class(y, scores)
        return
    result = average_precision_per_class(y, scores)
    y_sk, scores_sk = sk_columns(y, columns), sk_columns(scores, columns)
    expected = skm.average_precision_score(y_sk, scores_sk, average=None)
    np.testing.assert_allclose(result.values[columns], np.atleast_1d(expected), atol=1e-12)
    assert result.macro == pytest.approx(skm.average_precision_score(y_sk, scores_sk, average="macro"))
    assert len(result.excluded) == y.shape[1] - len(columns)
    if 0 < y.sum() < y.size:
        assert average_precision_micro(y, scores) == pytest.approx(
            skm.average_precision_score(y, scores, average="micro")
        )


@settings(max_examples=120, deadline=None)
@given(labels_and_scores())
def test_roc_auc_equals_sklearn(case):
    y, scores, _ = case
    columns = scored_columns(y)
    if len(columns) == 0:
        return
    result = roc_auc_per_class(y, scores)
    y_sk, scores_sk = sk_columns(y, columns), sk_columns(scores, columns)
    expected = skm.roc_auc_score(y_sk, scores_sk, average=None)
    np.testing.assert_allclose(result.values[columns], np.atleast_1d(expected), atol=1e-12)
    assert roc_auc_macro(y, scores) == pytest.approx(skm.roc_auc_score(y_sk, scores_sk, average="macro"))
    if 0 < y.sum() < y.size:
        assert roc_auc_micro(y, scores) == pytest.approx(skm.roc_auc_score(y, scores, average="micro"))


@settings(max_examples=100, deadline=None)
@given(labels_and_scores(ties=True))
def test_ties_equal_sklearn(case):
    y, scores, _ = case
    columns = scored_columns(y)
    if len(columns) == 0:
        return
    y_sk, scores_sk = sk_columns(y, columns), sk_columns(scores, columns)
    np.testing.assert_allclose(
        average_precision_per_class(y, scores).values[columns],
        np.atleast_1d(skm.average_precision_score(y_sk, scores_sk, average=None)),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        roc_auc_per_class(y, scores).values[columns],
        np.atleast_1d(skm.roc_auc_score(y_sk, scores_sk, average=None)),
        atol=1e-12,
    )


def test_ties_by_hand():
    # one class, y = 1 0 1 0, s = .9 .9 .5 .5
    # AP: threshold .9 keeps {1, 0}: precision 1/2, recall 1/2; threshold .5 keeps all: precision 2/4,
    #     recall 1 -> AP = 1/2 * 1/2 + 1/2 * 1/2 = 1/2 (each tied positive gets its group's precision)
    # AUC: pairs (.9,.9) = 1/2, (.9,.5) = 1, (.5,.9) = 0, (.5,.5) = 1/2 -> 2/4 = 1/2
    # second class, y = 1 1 0 0, s = .9 .5 .5 .1
    # AP: .9 -> P 1, R 1/2; .5 -> P 2/3, R 1 -> 1/2 + 1/3 = 5/6
    # AUC: (.9 vs .5, .1) = 2, (.5 vs .5) = 1/2, (.5 vs .1) = 1 -> 3.5 / 4 = 7/8
    y = np.array([[1, 1], [0, 1], [1, 0], [0, 0]], dtype=bool)
    scores = np.array([[0.9, 0.9], [0.9, 0.5], [0.5, 0.5], [0.5, 0.1]])
    np.testing.assert_allclose(average_precision_per_class(y, scores).values, [0.5, 5 / 6])
    np.testing.assert_allclose(roc_auc_per_class(y, scores).values, [0.5, 7 / 8])
    precision, recall, thresholds = precision_recall_curve(y[:, 1], scores[:, 1])
    np.testing.assert_allclose(precision, [1, 2 / 3, 1 / 2])
    np.testing.assert_allclose(recall, [1 / 2, 1, 1])
    np.testing.assert_allclose(thresholds, [0.9, 0.5, 0.1])


@settings(max_examples=100, deadline=None)
@given(labels_and_scores(with_mask=True))
def test_masked_equals_unmasked_on_known_entries_alone(case):
    y, scores, mask = case
    columns = scored_columns(y, mask)
    if len(columns) == 0:
        with pytest.raises(UndefinedMetricError):
            roc_auc_per_class(y, scores, mask=mask)
        return
    ap = average_precision_per_class(y, scores, mask=mask)
    auc = roc_auc_per_class(y, scores, mask=mask)
    for j in columns:
        known = mask[:, j]
        assert ap.values[j] == pytest.approx(skm.average_precision_score(y[known, j], scores[known, j]))
        assert auc.values[j] == pytest.approx(skm.roc_auc_score(y[known, j], scores[known, j]))
    assert np.isnan(ap.values[np.setdiff1d(np.arange(y.shape[1]), columns)]).all()
    pooled_y, pooled_scores = y[mask], scores[mask]
    if 0 < pooled_y.sum() < pooled_y.size:
        assert roc_auc_micro(y, scores, mask=mask) == pytest.approx(
            skm.roc_auc_score(pooled_y, pooled_scores)
        )
        assert average_precision_micro(y, scores, mask=mask) == pytest.approx(
            skm.average_precision_score(pooled_y, pooled_scores)
        )


def test_classes_without_positives_or_negatives_are_excluded_and_reported():
    y = np.array([[1, 0, 1, 0], [0, 0, 1, 1], [1, 0, 1, 0]], dtype=bool)
    scores = np.array([[0.9, 0.1, 0.3, 0.2], [0.2, 0.4, 0.6, 0.7], [0.8, 0.3, 0.5, 0.1]])
    mask = np.ones_like(y)
    mask[:, 3] = False  # a mask that leaves class "d" empty
    names = ["a", "b", "c", "d"]
    for per_class in (average_precision_per_class, roc_auc_per_class, d_prime_per_class):
        result = per_class(y, scores, mask=mask, class_names=names)
        assert result.excluded == {"b": "no positives", "c": "no negatives", "d": "no evaluated entries"}
        assert np.isfinite(result.macro)
        assert result.macro == pytest.approx(result.values[0])
        as_dict = result.as_dict()
        assert as_dict["per_class"]["b"] is None
        assert as_dict["num_classes_excluded"] == 3
    assert roc_auc_macro(y, scores, mask=mask) == pytest.approx(1.0)


def test_no_scoreable_class_raises():
    y = np.array([[1, 0], [1, 0]], dtype=bool)
    with pytest.raises(UndefinedMetricError, match=r"roc_auc: no class can be scored .*1 with no negatives"):
        roc_auc_per_class(y, np.zeros((2, 2)))
    with pytest.raises(UndefinedMetricError, match="micro ROC-AUC: the 2 evaluated entries hold no negative"):
        roc_auc_micro(y, np.zeros((2, 2)), mask=np.array([[True, False], [True, False]]))


def test_d_prime_at_known_aucs():
    assert float(d_prime(0.5)) == 0.0
    assert float(d_prime(0.76)) == pytest.approx(1.0, abs=0.01)
    values = d_prime(np.array([0.1, 0.3, 0.5, 0.7, 0.9]))
    np.testing.assert_allclose(values, -values[::-1])
    assert np.all(np.diff(values) > 0)
    assert np.isfinite(d_prime(1.0))
    assert float(d_prime(1.0)) > 6
    assert np.isnan(d_prime(np.nan))
    with pytest.raises(ValueError, match=r"AUC must lie in \[0, 1\], got 1.5"):
        d_prime(1.5)


def test_d_prime_per_class_follows_auc(rng):
    y = rng.random((40, 4)) < 0.4
    scores = rng.random((40, 4)) + y * rng.random(4)
    auc = roc_auc_per_class(y, scores)
    np.testing.assert_allclose(d_prime_per_class(y, scores).values, np.sqrt(2) * _probit(auc.values))


def _probit(p: np.ndarray) -> np.ndarray:
    from scipy.stats import norm

    return norm.ppf(p)


def test_precision_recall_curve_matches_sklearn_points(rng):
    y = rng.random(60) < 0.3
    scores = rng.random(60)
    precision, recall, thresholds = precision_recall_curve(y, scores)
    ref_precision, ref_recall, ref_thresholds = skm.precision_recall_curve(y, scores)
    # sklearn lists increasing thresholds and appends (precision 1, recall 0)
    np.testing.assert_allclose(precision, ref_precision[:-1][::-1][: len(precision)])
    np.testing.assert_allclose(recall, ref_recall[:-1][::-1][: len(recall)])
    np.testing.assert_allclose(thresholds, ref_thresholds[::-1][: len(thresholds)])
    assert average_precision_macro(y[:, None], scores[:, None]) == pytest.approx(
        float(np.sum(np.diff(np.r_[0, recall]) * precision))
    )
