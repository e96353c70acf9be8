"""The ``generalized_ce`` (Lq) strategy beyond the contract: by hand, its limits, masks, extremes."""

from __future__ import annotations

import math

import pytest
import torch
from strategy_helpers import FixedLogits

from earmark.batch import Batch
from earmark.config import ConfigError
from earmark.features.logmel import LogMelConfig
from earmark.spec import TaggingSpec
from earmark.strategies import build_strategy, masked_bce
from earmark.strategies.robust import GeneralizedCEConfig, lq_loss

SPEC = TaggingSpec(("a", "b", "c", "d"), LogMelConfig(n_mels=16), segment_frames=16)


def by_hand(z: float, y: float, q: float) -> float:
    p = 1.0 / (1.0 + math.exp(-z))
    return y * (1 - p**q) / q + (1 - y) * (1 - (1 - p) ** q) / q


def test_the_default_q_is_zhang_and_sabuncus():
    assert GeneralizedCEConfig().q == 0.7
    assert GeneralizedCEConfig().missing == "mask"


def test_the_loss_of_three_entries_by_hand():
    logits, targets = [1.0, -2.0, 3.0], [1.0, 0.0, 0.5]
    # the first written out: (1 − σ(1)^0.7) / 0.7
    assert by_hand(1.0, 1.0, 0.7) == pytest.approx((1 - (math.e / (1 + math.e)) ** 0.7) / 0.7)
    expected = sum(by_hand(z, y, 0.7) for z, y in zip(logits, targets, strict=True)) / 3
    loss = lq_loss(torch.tensor([logits]), torch.tensor([targets]), torch.ones(1, 3), q=0.7)
    assert float(loss) == pytest.approx(expected, abs=1e-6)


def test_q_one_is_the_mean_absolute_error():
    logits = torch.tensor([[0.4, -1.2, 2.5, -0.3]])
    targets = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    p = torch.sigmoid(logits)
    mae = (targets - p).abs().mean()
    torch.testing.assert_close(lq_loss(logits, targets, torch.ones(1, 4), q=1.0), mae)


def test_the_strategy_computes_the_loss_of_its_labeled_rows():
    logits = torch.tensor([[1.0, -2.0, 3.0, 0.5], [0.0, 1.0, -1.0, 2.0]])
    rows = Batch(
        features=torch.zeros(2, 16, 16),
        positive=torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]]),
        annotated=torch.tensor([[1.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]),
        labeled=torch.tensor([True, False]),
        clip_ids=("c0", "c1"),
        sources=("curated", "unlabeled"),
    )
    masked = build_strategy("generalized_ce", SPEC, {"q": 0.5})
    losses = masked.losses(rows, FixedLogits(logits), None, 0, torch.Generator())
    expected = (by_hand(1.0, 1, 0.5) + by_hand(-2.0, 0, 0.5) + by_hand(0.5, 1, 0.5)) / 3
    assert float(losses["lq"].detach()) == pytest.approx(expected, abs=1e-6)
    assert losses["total"] is losses["lq"]
    negative = build_strategy("generalized_ce", SPEC, {"q": 0.5, "missing": "negative"})
    with_missing = negative.losses(rows, FixedLogits(logits), None, 0, torch.Generator())["lq"]
    expected = (3 * expected + by_hand(3.0, 0, 0.5)) / 4
    assert float(with_missing.detach()) == pytest.approx(expected, abs=1e-6)


def test_a_small_q_approaches_the_bce():
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(8, 5, generator=g)
    targets = torch.rand(8, 5, generator=g)
    weights = (torch.rand(8, 5, generator=g) > 0.3).float()
    bce = masked_bce(logits, targets, weights)
    gaps = [float((lq_loss(logits, targets, weights, q=q) - bce).abs()) for q in (0.7, 1e-2, 1e-4)]
    assert gaps[0] > gaps[1] > gaps[2]
    torch.testing.assert_close(lq_loss(logits, targets, weights, q=1e-6), bce, rtol=1e-5, atol=1e-5)


def test_its_gradient_is_the_bces_scaled_by_p_t_to_the_q():
    logits = torch.tensor([[2.0, -1.5, 0.3, -3.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    lq_loss(logits, targets, torch.ones(1, 4), q=0.7).backward()
    assert logits.grad is not None
    lq_grad = logits.grad.clone()
    logits.grad = None
    masked_bce(logits, targets, torch.ones(1, 4)).backward()
    p = torch.sigmoid(logits.detach())
    p_t = torch.where(targets == 1, p, 1 - p)
    torch.testing.assert_close(lq_grad, p_t**0.7 * logits.grad)


def test_entries_without_weight_do_not_change_the_loss():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, generator=g)
    targets = (torch.rand(6, 4, generator=g) > 0.5).float()
    weights = (torch.rand(6, 4, generator=g) > 0.5).float()
    flipped = torch.where(weights == 0, 1 - targets, targets)
    torch.testing.assert_close(
        lq_loss(logits, targets, weights, q=0.7), lq_loss(logits, flipped, weights, q=0.7)
    )
    changed = torch.where(weights == 1, 1 - targets, targets)
    assert not torch.isclose(
        lq_loss(logits, targets, weights, q=0.7), lq_loss(logits, changed, weights, q=0.7)
    )
    assert float(lq_loss(logits, targets, torch.zeros(6, 4), q=0.7)) == 0.0


@pytest.mark.parametrize("q", [1e-6, 0.1, 0.7, 1.0])
@pytest.mark.parametrize("scale", [50.0, 100.0])
def test_loss_and_gradients_are_finite_at_extreme_logits(q, scale):
    logits = torch.tensor([[scale, -scale, scale, -scale, 0.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.5]])
    loss = lq_loss(logits, targets, torch.ones(1, 5), q=q)
    loss.backward()
    assert torch.isfinite(loss.detach())
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()
    # bounded by 1/q per entry: the two wrong entries cost at most that, however wrong
    assert float(loss.detach()) <= (2 / q + 1 / q) / 5 + 1e-6


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"q": 0.0}, "q"),
        ({"q": -0.5}, "q"),
        ({"q": 1.5}, "q"),
        ({"missing": "ignore"}, "missing"),
        ({"gamma": 0.7}, "gamma"),
    ],
)
def test_bad_options_are_config_errors_naming_the_key(options, key):
    with pytest.raises(ConfigError, match=rf"strategy\.generalized_ce\.{key}"):
        build_strategy("generalized_ce", SPEC, options)


def test_a_config_built_directly_names_its_key():
    with pytest.raises(ConfigError, match=r"strategy_options\.q must be"):
        GeneralizedCEConfig(q=2.0)


def test_the_function_refuses_a_q_out_of_range_and_mismatched_shapes():
    with pytest.raises(ValueError, match=r"q must be in \(0, 1\], got 0"):
        lq_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2), q=0.0)
    with pytest.raises(ValueError, match="must have one shape"):
        lq_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(3, 2), q=0.7)
