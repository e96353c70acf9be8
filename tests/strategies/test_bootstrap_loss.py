"""The ``bootstrap`` strategy beyond the contract: soft and hard targets by hand, gradients."""

from __future__ import annotations

import math

import pytest
import torch
from strategy_helpers import SPEC, FixedLogits, labeled_batch

from earmark.config import ConfigError
from earmark.strategies import build_strategy, masked_bce
from earmark.strategies.robust import BootstrapConfig, bootstrap_loss


def bce(z: float, t: float) -> float:
    p = 1.0 / (1.0 + math.exp(-z))
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def test_the_defaults_are_the_papers_soft_setting():
    assert (BootstrapConfig().beta, BootstrapConfig().mode) == (0.95, "soft")


def test_soft_is_the_bce_against_the_mixed_target():
    # label 1 at logit −1 (p = 0.269): target 0.95 · 1 + 0.05 · 0.269 = 0.9634
    p = 1.0 / (1.0 + math.e)
    expected = bce(-1.0, 0.95 + 0.05 * p)
    loss = bootstrap_loss(torch.tensor([[-1.0]]), torch.tensor([[1.0]]), torch.ones(1, 1), beta=0.95)
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(1.2767, abs=1e-4)


def test_soft_pulls_through_the_prediction_too():
    """The gradient is β · the BCE's plus (1 − β) · the entropy's (no detached target)."""
    logits = torch.tensor([[0.7, -1.3]], requires_grad=True)
    targets, weights = torch.tensor([[1.0, 1.0]]), torch.ones(1, 2)
    bootstrap_loss(logits, targets, weights, beta=0.8).backward()
    assert logits.grad is not None
    p = torch.sigmoid(logits.detach())
    # d/dz of H(σ(z)) = −z · σ(z)(1 − σ(z)); of the BCE: p − y; averaged over the 2 entries
    expected = (0.8 * (p - targets) + 0.2 * (-logits.detach() * p * (1 - p))) / 2
    torch.testing.assert_close(logits.grad, expected)


def test_hard_uses_the_thresholded_prediction():
    # label 0 at logit 2 (predicted positive): target 0.8 · 0 + 0.2 · 1 = 0.2
    # label 1 at logit 0.5 (predicted positive): target 1
    loss = bootstrap_loss(
        torch.tensor([[2.0, 0.5]]), torch.tensor([[0.0, 1.0]]), torch.ones(1, 2), beta=0.8, mode="hard"
    )
    assert float(loss) == pytest.approx((bce(2.0, 0.2) + bce(0.5, 1.0)) / 2, abs=1e-6)


def test_beta_one_is_the_bce():
    g = torch.Generator().manual_seed(2)
    logits, targets = 3 * torch.randn(4, 4, generator=g), (torch.rand(4, 4, generator=g) > 0.5).float()
    for mode in ("soft", "hard"):
        torch.testing.assert_close(
            bootstrap_loss(logits, targets, torch.ones(4, 4), beta=1.0, mode=mode),
            masked_bce(logits, targets, torch.ones(4, 4)),
        )


def test_the_strategy_masks_missing_entries_by_default():
    batch = labeled_batch([[1, 0, 0, 0]], [[1, 0, 0, 0]], labeled=[True])
    logits = torch.tensor([[-1.0, 5.0, 5.0, 5.0]])
    losses = build_strategy("bootstrap", SPEC, {}).losses(
        batch, FixedLogits(logits), None, 0, torch.Generator()
    )
    assert float(losses["bootstrap"].detach()) == pytest.approx(1.2767, abs=1e-4)


def test_bad_options_name_their_key():
    with pytest.raises(ConfigError, match=r"strategy\.bootstrap\.beta"):
        build_strategy("bootstrap", SPEC, {"beta": 1.5})
    with pytest.raises(ConfigError, match=r"strategy\.bootstrap\.mode"):
        build_strategy("bootstrap", SPEC, {"mode": "medium"})
    with pytest.raises(ValueError, match="mode must be soft or hard"):
        bootstrap_loss(torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1, 1), mode="medium")  # type: ignore[arg-type]
