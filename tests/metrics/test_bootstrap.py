from __future__ import annotations

import numpy as np
import pytest

from earmark.metrics import (
    UndefinedMetricError,
    average_precision_macro,
    bootstrap_ci,
    lwlrap,
    paired_bootstrap,
)


def data(rng: np.random.Generator, n: int = 120, k: int = 6):
    y = rng.random((n, k)) < 0.3
    y[np.arange(n), rng.integers(0, k, n)] = True
    noise = rng.random((n, k))
    return y, noise


def test_interval_is_seeded_and_brackets_the_estimate(rng):
    y, scores = data(rng)
    scores = scores + y * 0.3
    first = bootstrap_ci(lwlrap, y, scores, rng=np.random.default_rng(7), num_resamples=200)
    again = bootstrap_ci(lwlrap, y, scores, rng=np.random.default_rng(7), num_resamples=200)
    other = bootstrap_ci(lwlrap, y, scores, rng=np.random.default_rng(8), num_resamples=200)
    assert first == again
    assert first != other
    assert first.estimate == pytest.approx(lwlrap(y, scores))
    assert first.low < first.estimate < first.high
    assert first.high - first.low < 0.3
    assert first.num_undefined == 0


def test_interval_follows_the_resampled_clips(rng):
    y, scores = data(rng, n=40)
    result = bootstrap_ci(
        average_precision_macro, y, scores, rng=np.random.default_rng(3), num_resamples=50, confidence=0.8
    )
    draw = np.random.default_rng(3)
    values = []
    for _ in range(50):
        picked = draw.integers(0, 40, size=40)
        values.append(average_precision_macro(y[picked], scores[picked]))
    assert result.low == pytest.approx(np.quantile(values, 0.1))
    assert result.high == pytest.approx(np.quantile(values, 0.9))


def test_paired_comparison_detects_a_better_system(rng):
    y, noise = data(rng)
    weak = noise + y * 0.1
    strong = noise + y * 0.6
    result = paired_bootstrap(lwlrap, y, weak, strong, rng=np.random.default_rng(0), num_resamples=300)
    assert result.difference == pytest.approx(lwlrap(y, strong) - lwlrap(y, weak))
    assert result.difference > 0
    assert result.low > 0
    assert result.p_value < 0.01
    reverse = paired_bootstrap(lwlrap, y, strong, weak, rng=np.random.default_rng(0), num_resamples=300)
    assert reverse.difference == pytest.approx(-result.difference)
    assert reverse.high < 0


def test_identical_systems_give_zero_difference_and_p_one(rng):
    y, scores = data(rng)
    result = paired_bootstrap(
        lwlrap, y, scores, scores.copy(), rng=np.random.default_rng(0), num_resamples=100
    )
    assert result.difference == 0.0
    assert result.low == result.high == 0.0
    assert result.p_value == 1.0


def test_undefined_resamples_are_counted(rng):
    y = np.zeros((20, 3), dtype=bool)
    y[0, 1] = True  # one positive clip: many resamples miss it
    scores = rng.random((20, 3))
    result = bootstrap_ci(lwlrap, y, scores, rng=np.random.default_rng(0), num_resamples=100)
    assert 0 < result.num_undefined < 100


def test_bad_options_raise(rng):
    y, scores = data(rng, n=10)
    with pytest.raises(ValueError, match="num_resamples must be at least 1"):
        bootstrap_ci(lwlrap, y, scores, rng=rng, num_resamples=0)
    with pytest.raises(ValueError, match=r"confidence must lie in \(0, 1\)"):
        bootstrap_ci(lwlrap, y, scores, rng=rng, confidence=1.0)
    with pytest.raises(ValueError, match=r"scores_a have shape \(10, 6\) but scores_b have shape \(10, 5\)"):
        paired_bootstrap(lwlrap, y, scores, scores[:, :5], rng=rng)
    with pytest.raises(UndefinedMetricError):
        bootstrap_ci(lwlrap, np.zeros((5, 2), bool), np.zeros((5, 2)), rng=rng)
