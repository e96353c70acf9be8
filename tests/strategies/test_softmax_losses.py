"""The single-label (softmax) losses: hand-computed values, row weights and the label check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from strategy_helpers import SPEC, FixedLogits, labeled_batch, make_labels

from earmark.config import ConfigError
from earmark.strategies import build_strategy
from earmark.strategies.softmax import (
    check_single_label,
    row_targets,
    softmax_bootstrap,
    softmax_ce,
    softmax_lq,
    softmax_symmetric_ce,
)

# one row whose softmax is (0.25, 0.75): logits 0 and ln 3
LOGITS = torch.tensor([[0.0, math.log(3.0)]])
CLASS_1 = torch.tensor([[0.0, 1.0]])
ONES = torch.ones(1, 2)


def test_cross_entropy_by_hand():
    assert float(softmax_ce(LOGITS, CLASS_1, ONES)) == pytest.approx(-math.log(0.75))
    # smoothing 0.2 over 2 classes: target (0.1, 0.9)
    expected = -(0.1 * math.log(0.25) + 0.9 * math.log(0.75))
    assert float(softmax_ce(LOGITS, CLASS_1, ONES, label_smoothing=0.2)) == pytest.approx(expected)


def test_lq_by_hand_and_its_limits():
    assert float(softmax_lq(LOGITS, CLASS_1, ONES, q=0.5)) == pytest.approx((1 - 0.75**0.5) / 0.5)
    assert float(softmax_lq(LOGITS, CLASS_1, ONES, q=1.0)) == pytest.approx(0.25)  # mean absolute error
    assert float(softmax_lq(LOGITS, CLASS_1, ONES, q=1e-6)) == pytest.approx(-math.log(0.75), rel=1e-5)
    with pytest.raises(ValueError, match="q must be"):
        softmax_lq(LOGITS, CLASS_1, ONES, q=0.0)


def test_symmetric_ce_by_hand():
    # CE = −ln 0.75; RCE = −(0.25 · A + 0.75 · ln 1) = 1 with A = −4
    expected = 0.1 * -math.log(0.75) + 1.0 * 1.0
    assert float(
        softmax_symmetric_ce(LOGITS, CLASS_1, ONES, alpha=0.1, beta=1.0, log_zero=-4.0)
    ) == pytest.approx(expected)


def test_bootstrap_by_hand():
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    soft = softmax_bootstrap(LOGITS, CLASS_1, ONES, beta=0.8, mode="soft")
    assert float(soft) == pytest.approx(0.8 * -math.log(0.75) + 0.2 * entropy)
    # hard: the prediction (class 1) is the label, so the target stays (0, 1)
    hard = softmax_bootstrap(LOGITS, torch.tensor([[1.0, 0.0]]), ONES, beta=0.8, mode="hard")
    assert float(hard) == pytest.approx(-(0.8 * math.log(0.25) + 0.2 * math.log(0.75)))


def test_a_mixup_row_is_its_two_classes_cross_entropy():
    mixed = torch.tensor([[0.3, 0.7]])
    expected = -(0.3 * math.log(0.25) + 0.7 * math.log(0.75))
    assert float(softmax_ce(LOGITS, mixed, ONES)) == pytest.approx(expected)


def test_rows_without_a_weighted_positive_carry_no_loss():
    logits = torch.tensor([[0.0, math.log(3.0)], [5.0, -5.0], [2.0, 0.0]])
    targets = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    # row 2 unlabeled (weight 0); row 3's positive missing, its negative known
    weights = torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    normalised, row_weights = row_targets(targets, weights)
    assert row_weights.tolist() == [1.0, 0.0, 0.0]
    assert normalised[2].tolist() == [0.0, 0.0]
    assert float(softmax_ce(logits, targets, weights)) == pytest.approx(-math.log(0.75))


def test_a_suspect_scales_its_row():
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    targets = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    weights = torch.tensor([[1.0, 1.0], [1.0, 0.5]])  # row 2's positive (class 0) at full weight
    weights_suspect = torch.tensor([[1.0, 1.0], [0.5, 1.0]])  # row 2's positive scaled by 0.5
    a, b = -math.log(0.75), -math.log(0.25)
    assert float(softmax_ce(logits, targets, weights)) == pytest.approx((a + b) / 2)
    assert float(softmax_ce(logits, targets, weights_suspect)) == pytest.approx((a + 0.5 * b) / 1.5)


def test_the_strategy_trains_the_softmax_and_reports_its_output():
    strategy = build_strategy("generalized_ce", SPEC, {"output": "softmax", "q": 0.5})
    assert strategy.output == "softmax"
    assert build_strategy("generalized_ce", SPEC, {}).output == "sigmoid"
    logits = [[0.0, math.log(3.0), 0.0, 0.0]]
    batch = labeled_batch([[0, 1, 0, 0]], [[1, 1, 1, 1]], labeled=[True])
    losses = strategy.losses(batch, FixedLogits(logits), None, 0, torch.Generator())
    p = 3.0 / 6.0  # softmax of (0, ln 3, 0, 0) at class b
    assert float(losses["total"].detach()) == pytest.approx((1 - p**0.5) / 0.5)


def test_multi_label_training_clips_are_refused_with_the_first_named():
    positive = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0]], dtype=bool)
    with pytest.raises(ConfigError, match=r"1 of 3 do not \(first: 'c1' has 2"):
        check_single_label(make_labels(positive, positive), "supervised")
    check_single_label(make_labels(positive[[0, 2]], positive[[0, 2]]), "supervised")
    unlabeled = make_labels(positive, positive, source="unlabeled")
    check_single_label(unlabeled, "supervised")  # unlabeled clips need no class


def test_options_that_need_a_sigmoid_are_refused():
    with pytest.raises(ConfigError, match="class_weights"):
        build_strategy("supervised", SPEC, {"output": "softmax", "class_weights": [1, 1, 1, 1]})
    with pytest.raises(ConfigError, match="enhance"):
        build_strategy(
            "supervised",
            SPEC,
            {"output": "softmax", "missing": "mask", "enhance": {"teacher_run": "runs/t", "percent": 1.0}},
        )
    with pytest.raises(ConfigError, match="output"):
        build_strategy("asymmetric", SPEC, {"output": "softmax"})
