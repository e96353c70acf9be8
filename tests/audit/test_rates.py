"""The noise- and missing-rate estimates: cases whose answer is known exactly, then bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from earmark.audit import AuditError, RateEstimate, estimate_missing_rate, estimate_noise_rate
from earmark.data.labels import Labels


def _labels(positive, annotated=None) -> Labels:
    positive = np.asarray(positive, dtype=bool)
    n, k = positive.shape
    return Labels(
        clip_ids=np.array([f"c{i}" for i in range(n)], dtype=object),
        class_names=tuple(f"k{j}" for j in range(k)),
        positive=positive,
        annotated=np.ones_like(positive)
        if annotated is None
        else np.asarray(annotated, dtype=bool) | positive,
        source=np.array(["noisy"] * n, dtype=object),
        fold=np.ones(n, dtype=np.int64),
        duration_seconds=np.ones(n),
    )


# ------------------------------------------------------------------------------------ noise rate
def test_noise_rate_by_hand():
    """Labels a a b b c; the scores say a a b c c: one of b's two labels is disputed, 1 of 5."""
    labels = _labels(np.eye(3, dtype=bool)[[0, 0, 1, 1, 2]])
    scores = np.eye(3)[[0, 0, 1, 2, 2]] * 0.8 + 0.1
    estimate = estimate_noise_rate(labels, scores, prior_clips=0, resamples=0)
    assert estimate == RateEstimate(0.2, 0.2, 0.2, "confident_joint", 5)
    assert str(estimate) == "20.0 % (interval 20.0–20.0 %; confident_joint over 5 clips)"


def test_noise_rate_of_a_perfect_model_is_the_flip_rate():
    """Out-of-fold scores that know every true class: the estimate is the share flipped, exactly."""
    rng = np.random.default_rng(0)
    true = rng.integers(0, 5, size=400)
    given = true.copy()
    flipped = rng.random(400) < 0.15
    given[flipped] = (true[flipped] + rng.integers(1, 5, size=int(flipped.sum()))) % 5
    scores = np.eye(5)[true] * 0.8 + 0.1
    estimate = estimate_noise_rate(_labels(np.eye(5, dtype=bool)[given]), scores, resamples=200)
    assert estimate.rate == pytest.approx(flipped.mean())
    assert estimate.low <= flipped.mean() <= estimate.high
    assert 0.0 < estimate.high - estimate.low < 0.15
    assert estimate.n == 400


def test_noise_rate_of_memorised_scores_is_zero():
    """A model that repeats the labels it trained on (in-fold scores) disputes nothing."""
    positive = np.eye(4, dtype=bool)[np.random.default_rng(1).integers(0, 4, size=50)]
    estimate = estimate_noise_rate(_labels(positive), positive * 0.9 + 0.05, resamples=50)
    assert (estimate.rate, estimate.low, estimate.high) == (0.0, 0.0, 0.0)


def test_noise_rate_multi_label_clip_keeps_a_label_an_unlabeled_class_outscores():
    """Clip 0 (labels k0, k1): k2 outscores k0, which still reaches its threshold: not disputed.

    k1 fails its threshold (0.1 against 0.5) while k2 reaches its own: disputed. On the
    single-label clip 1, k2 outscoring its label k0 disputes it (cleanlab's argmax rule).
    """
    positive = [[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    scores = np.array([[0.8, 0.1, 0.9], [0.8, 0.1, 0.9], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9]])
    estimate = estimate_noise_rate(_labels(positive), scores, prior_clips=0, resamples=0)
    # k0: 1 of 2 judged disputed (clip 1); k1: 1 of 2 (clip 0); k2: 0 of 1 → (1 + 1 + 0) / 5
    assert estimate.rate == pytest.approx(2 / 5)


def test_noise_rate_is_seeded():
    rng = np.random.default_rng(2)
    positive = np.eye(3, dtype=bool)[rng.integers(0, 3, size=60)]
    scores = rng.random((60, 3))
    first = estimate_noise_rate(_labels(positive), scores, resamples=100, seed=4)
    assert first == estimate_noise_rate(_labels(positive), scores, resamples=100, seed=4)
    assert first.low <= first.high


# ---------------------------------------------------------------------------------- missing rate
def test_missing_rate_calibrated_by_hand():
    """Annotated k0 entries: 4 of 5 positive at score 0.8, 1 of 5 at 0.2; so the 10 missing k1
    entries (5 at 0.8, 5 at 0.2) hide 5 × 0.8 + 5 × 0.2 = 5 positives beside the 5 labeled."""
    scores = np.repeat([[0.8, 0.8], [0.2, 0.2]], 5, axis=0)
    positive = np.zeros((10, 2), dtype=bool)
    positive[[0, 1, 2, 3, 5], 0] = True
    annotated = np.array([[True, False]] * 10)
    estimate = estimate_missing_rate(_labels(positive, annotated), scores, resamples=0)
    assert estimate.method == "calibrated"  # "auto" with annotated negatives
    assert estimate.rate == pytest.approx(0.5, abs=1e-4)


def test_missing_rate_top_bin_by_hand():
    """Positives only: 8 labeled positives and 2 missing entries at 0.9; 2 labeled positives and
    38 missing entries at 0.1. Above 0.9: 2 missing per 8 labeled = (1 − c) / c, so c = 0.8 and
    20 % of the positives are missing."""
    positive = np.zeros((10, 5), dtype=bool)
    scores = np.full((10, 5), 0.1)
    positive[:8, 0] = positive[8:, 1] = True
    scores[:, 0] = 0.9
    labels = _labels(positive, positive)
    assert labels.positives_only
    estimate = estimate_missing_rate(labels, scores, resamples=0)
    assert (estimate.method, estimate.rate) == ("top_bin", pytest.approx(0.2))
    # top_share = 1 keeps only the lowest threshold: 40 missing per 10 labeled
    assert estimate_missing_rate(labels, scores, top_share=1.0, resamples=0).rate == pytest.approx(0.8)


def test_missing_rate_of_a_perfect_model_recovers_the_drop():
    """Positives only, 20 % of the positives dropped, scores that know the truth: the drop rate."""
    rng = np.random.default_rng(3)
    true = rng.random((2000, 6)) < 0.3
    dropped = true & (rng.random(true.shape) < 0.2)
    given = true & ~dropped
    scores = np.where(true, 0.7 + 0.2 * rng.random(true.shape), 0.3 * rng.random(true.shape))
    estimate = estimate_missing_rate(_labels(given, given), scores, resamples=200)
    truth = dropped.sum() / true.sum()
    assert estimate.rate == pytest.approx(truth, abs=0.04)
    assert estimate.low <= truth <= estimate.high
    # every positive scores above every negative: the threshold at the lowest labeled positive
    # counts every hidden positive and no negative, the drop rate exactly
    everything = estimate_missing_rate(_labels(given, given), scores, top_share=1.0, resamples=0)
    assert everything.rate == pytest.approx(truth)
    # the model trained on these labels memorised them: it scores the dropped entries as negatives
    memorised = np.where(given, scores, 0.3 * rng.random(true.shape))
    assert estimate_missing_rate(_labels(given, given), memorised, resamples=0).rate == 0.0


def test_missing_rate_without_missing_entries_is_zero():
    positive = np.eye(2, dtype=bool)[[0, 1, 1]]
    estimate = estimate_missing_rate(_labels(positive), np.full((3, 2), 0.5))
    assert estimate == RateEstimate(0.0, 0.0, 0.0, "calibrated", 3)


# ------------------------------------------------------------------------------------- bad input
POSITIVE = np.eye(2, dtype=bool)[[0, 1, 0]]
SCORES = np.full((3, 2), 0.5)


@pytest.mark.parametrize(
    ("estimator", "scores", "options", "message"),
    [
        (estimate_noise_rate, SCORES[:2], {}, r"scores have shape \(2, 2\), the labels .* \(3, 2\)"),
        (estimate_noise_rate, np.where(SCORES > 0, np.nan, 0), {}, "NaN or infinite"),
        (estimate_noise_rate, SCORES * 3, {}, r"probabilities in \[0, 1\], got values from 1.5 to 1.5"),
        (estimate_noise_rate, SCORES, {"resamples": -1}, "resamples must be >= 0, got -1"),
        (estimate_noise_rate, SCORES, {"confidence": 1.0}, r"confidence must be in \(0, 1\), got 1.0"),
        (estimate_noise_rate, SCORES, {"prior_clips": -1.0}, "prior_clips must be >= 0"),
        (estimate_missing_rate, SCORES - 1, {}, r"probabilities in \[0, 1\]"),
        (estimate_missing_rate, SCORES, {"method": "em"}, "unknown method 'em'; valid methods: auto"),
        (estimate_missing_rate, SCORES, {"top_share": 0.0}, r"top_share must be in \(0, 1\], got 0.0"),
    ],
)
def test_bad_input(estimator, scores, options, message):
    with pytest.raises(AuditError, match=message):
        estimator(_labels(POSITIVE), scores, **options)


def test_bad_labels():
    empty = _labels(np.zeros((3, 2), dtype=bool))
    with pytest.raises(AuditError, match="no positive label to judge"):
        estimate_noise_rate(empty, SCORES)
    with pytest.raises(AuditError, match="no positive: the share of positives missing is undefined"):
        estimate_missing_rate(empty, SCORES)
    positives_only = _labels(POSITIVE, POSITIVE)
    with pytest.raises(AuditError, match=r"'calibrated' needs annotated negatives .* use method 'top_bin'"):
        estimate_missing_rate(positives_only, SCORES, method="calibrated")
    assert isinstance(AuditError("x"), ValueError)
    with pytest.raises(dataclasses.FrozenInstanceError):
        estimate_noise_rate(_labels(POSITIVE), SCORES, resamples=0).rate = 0.5  # type: ignore[misc]
