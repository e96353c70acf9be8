"""The ``symmetric_ce`` strategy beyond the contract: a loss by hand, its bound, its options."""

from __future__ import annotations

import math

import pytest
import torch
from strategy_helpers import SPEC, FixedLogits, labeled_batch

from earmark.config import ConfigError
from earmark.strategies import build_strategy, masked_bce
from earmark.strategies.robust import SymmetricCEConfig, symmetric_ce_loss


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_the_defaults_are_the_papers_cifar10_setting():
    config = SymmetricCEConfig()
    assert (config.alpha, config.beta, config.log_zero, config.missing) == (0.1, 1.0, -4.0, "mask")


def test_two_entries_by_hand():
    # a positive at logit 1: CE = −log σ(1); RCE = −(σ(1)·log 1 + (1 − σ(1))·A) = 4 (1 − σ(1))
    # a negative at logit −2: CE = −log(1 − σ(−2)); RCE = −(σ(−2)·A + (1 − σ(−2))·log 1) = 4 σ(−2)
    p1, p2 = sigmoid(1.0), sigmoid(-2.0)
    first = 0.1 * -math.log(p1) + 1.0 * 4 * (1 - p1)
    second = 0.1 * -math.log(1 - p2) + 1.0 * 4 * p2
    loss = symmetric_ce_loss(torch.tensor([[1.0, -2.0]]), torch.tensor([[1.0, 0.0]]), torch.ones(1, 2))
    assert float(loss) == pytest.approx((first + second) / 2, abs=1e-6)
    assert (first + second) / 2 == pytest.approx(0.7983, abs=1e-4)


def test_a_soft_target_uses_both_logs():
    # y = 0.25: RCE = −(p log 0.25 + (1 − p) log 0.75)
    p = sigmoid(0.5)
    expected = -(p * math.log(0.25) + (1 - p) * math.log(0.75))
    loss = symmetric_ce_loss(torch.tensor([[0.5]]), torch.tensor([[0.25]]), torch.ones(1, 1), alpha=0.0)
    assert float(loss) == pytest.approx(expected, abs=1e-6)


def test_alpha_one_beta_zero_is_the_bce_and_the_reverse_term_is_bounded():
    g = torch.Generator().manual_seed(0)
    logits, targets = 4 * torch.randn(5, 4, generator=g), (torch.rand(5, 4, generator=g) > 0.5).float()
    weights = torch.ones(5, 4)
    torch.testing.assert_close(
        symmetric_ce_loss(logits, targets, weights, alpha=1.0, beta=0.0), masked_bce(logits, targets, weights)
    )
    wrong = symmetric_ce_loss(torch.tensor([[80.0]]), torch.tensor([[0.0]]), torch.ones(1, 1), alpha=0.0)
    assert float(wrong) == pytest.approx(4.0)  # −A, however confident the disagreement


def test_the_strategy_averages_its_labeled_annotated_entries():
    batch = labeled_batch([[1, 0, 0, 0], [1, 0, 0, 0]], [[1, 1, 0, 0], [1, 1, 1, 1]], labeled=[True, False])
    logits = torch.tensor([[1.0, -2.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    losses = build_strategy("symmetric_ce", SPEC, {}).losses(
        batch, FixedLogits(logits), None, 0, torch.Generator()
    )
    expected = symmetric_ce_loss(torch.tensor([[1.0, -2.0]]), torch.tensor([[1.0, 0.0]]), torch.ones(1, 2))
    torch.testing.assert_close(losses["sce"], expected)
    assert losses["total"] is losses["sce"]


@pytest.mark.parametrize(("options", "key"), [({"log_zero": 0.0}, "log_zero"), ({"alpha": -1.0}, "alpha")])
def test_bad_options_name_their_key(options, key):
    with pytest.raises(ConfigError, match=rf"strategy\.symmetric_ce\.{key}"):
        build_strategy("symmetric_ce", SPEC, options)
