"""``expected_positive`` (EPR): a batch by hand, the estimate of k, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from strategy_helpers import SPEC, FixedLogits, labeled_batch, make_labels

from earmark.config import ConfigError
from earmark.strategies import TrainingContext, build_strategy
from earmark.strategies.expected_positive import estimate_expected_positives


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _context(tmp_path, is_main=True) -> TrainingContext:
    def unused(*args, **kwargs):
        raise AssertionError("EPR needs no teacher")

    return TrainingContext(tmp_path, SPEC, is_main, unused, load_run=unused)


def test_a_single_positive_batch_by_hand():
    """Two labeled clips, one observed positive each, one unlabeled clip; k = 1.5, λ = 2."""
    batch = labeled_batch(
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]],
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]],
        labeled=[True, True, False],
    )
    logits = torch.tensor([[1.0, -1.0, 0.0, -2.0], [0.5, 2.0, -3.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    strategy = build_strategy("expected_positive", SPEC, {"expected_positives": 1.5, "weight": 2.0})
    losses = strategy.losses(batch, FixedLogits(logits), None, 0, torch.Generator())
    # the BCE of the two observed positives over all 2 × 4 entries of the labeled clips
    bce = (-math.log(sigmoid(1.0)) - math.log(sigmoid(2.0))) / 8
    # the mean over all three clips of the predicted count, against k, over 4²
    counts = [sum(sigmoid(z) for z in row) for row in logits.tolist()]
    epr = (sum(counts) / 3 - 1.5) ** 2 / 16
    assert float(losses["bce"].detach()) == pytest.approx(bce, abs=1e-6)
    assert float(losses["epr"].detach()) == pytest.approx(epr, abs=1e-6)
    assert float(losses["total"].detach()) == pytest.approx(bce + 2 * epr, abs=1e-6)


def test_k_is_the_per_class_positive_rate_with_explicit_negatives():
    positive = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]], dtype=bool)
    annotated = np.array([[1, 1, 0, 1], [1, 1, 0, 0], [1, 0, 0, 1], [1, 1, 1, 1]], dtype=bool)
    labels = make_labels(positive, annotated)
    k, how = estimate_expected_positives(labels)
    # a: 2 of 4, b: 2 of 3, c: 0 of 1, d: 0 of 3
    assert k == pytest.approx(0.5 + 2 / 3)
    assert "per-class positive rate" in how


def test_k_is_the_mean_count_for_positives_only_data(tmp_path):
    positive = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0]], dtype=bool)
    labels = make_labels(positive, positive)
    k, how = estimate_expected_positives(labels)
    assert k == pytest.approx(4 / 3)
    assert "lower bound" in how
    strategy = build_strategy("expected_positive", SPEC, {})
    strategy.prepare_labels(labels, _context(tmp_path))
    summary = json.loads((tmp_path / "expected_positives.json").read_text())
    assert summary["expected_positives"] == pytest.approx(4 / 3)
    given = build_strategy("expected_positive", SPEC, {"expected_positives": 2.0})
    given.prepare_labels(labels, _context(tmp_path / "other", is_main=False))
    assert given.expected_positives == 2.0


def test_errors():
    with pytest.raises(ValueError, match="run prepare_labels first"):
        build_strategy("expected_positive", SPEC, {}).losses(
            labeled_batch([[1, 0, 0, 0]], [[1, 0, 0, 0]], labeled=[True]),
            FixedLogits(torch.zeros(1, 4)),
            None,
            0,
            torch.Generator(),
        )
    with pytest.raises(ValueError, match="hold no positive"):
        estimate_expected_positives(make_labels(np.zeros((2, 4), bool), np.ones((2, 4), bool)))
    with pytest.raises(ConfigError, match=r"strategy\.expected_positive\.expected_positives"):
        build_strategy("expected_positive", SPEC, {"expected_positives": 0.0})


def test_entropy_maximisation_by_hand():
    """Zhou et al.'s EM: the observed positive's BCE minus α · the entropy of each missing entry."""
    batch = labeled_batch([[1, 0, 0, 0]], [[1, 0, 0, 1]], labeled=[True])
    logits = torch.tensor([[1.0, -1.0, 0.0, 2.0]])
    strategy = build_strategy("expected_positive", SPEC, {"weight": 0.0, "entropy_weight": 0.1})
    strategy.expected_positives = 1.0  # unused with weight 0, but required
    losses = strategy.losses(batch, FixedLogits(logits), None, 0, torch.Generator())

    def entropy(z: float) -> float:
        p = sigmoid(z)
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))

    # the annotated entries: a positive (logit 1) and a negative (logit 2); missing: b and c
    bce = (-math.log(sigmoid(1.0)) - math.log(1 - sigmoid(2.0))) / 4
    em = (entropy(-1.0) + entropy(0.0)) / 4
    assert float(losses["entropy"].detach()) == pytest.approx(em, abs=1e-6)
    assert float(losses["total"].detach()) == pytest.approx(bce - 0.1 * em, abs=1e-6)
    assert em == pytest.approx((0.5822 + math.log(2)) / 4, abs=1e-4)
