"""The ``asymmetric`` strategy beyond the contract: the loss by hand, its BCE limit, masks, extremes."""

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
from earmark.strategies.asymmetric import AsymmetricConfig, asymmetric_loss

SPEC = TaggingSpec(("a", "b", "c", "d"), LogMelConfig(n_mels=16), segment_frames=16)


def batch(positive: list[list[float]], annotated: list[list[float]], labeled: list[bool]) -> Batch:
    rows = len(positive)
    return Batch(
        features=torch.zeros(rows, 16, 16),
        positive=torch.tensor(positive),
        annotated=torch.tensor(annotated),
        labeled=torch.tensor(labeled),
        clip_ids=tuple(f"c{i}" for i in range(rows)),
        sources=tuple("curated" if x else "unlabeled" for x in labeled),
    )


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def by_hand(z: float, y: float, gamma_positive: float, gamma_negative: float, clip: float) -> float:
    p = sigmoid(z)
    shifted = max(p - clip, 0.0)
    positive = (1 - p) ** gamma_positive * math.log(p)
    negative = shifted**gamma_negative * math.log(1 - shifted) if shifted > 0 else 0.0
    return -(y * positive + (1 - y) * negative)


def test_the_defaults_are_the_papers():
    config = AsymmetricConfig()
    assert (config.gamma_positive, config.gamma_negative, config.clip) == (0.0, 4.0, 0.05)
    assert config.missing == "negative"


def test_the_loss_of_three_entries_by_hand_with_the_paper_settings():
    logits = [2.0, -1.0, 0.5, -4.0]  # the last negative has p < m: no loss
    targets = [1.0, 0.0, 0.0, 0.0]
    expected = [by_hand(z, y, 0.0, 4.0, 0.05) for z, y in zip(logits, targets, strict=True)]
    assert expected[3] == 0.0
    # written out for the first two: −log σ(2), and −p_m⁴ log(1 − p_m) with p_m = σ(−1) − 0.05
    assert expected[0] == pytest.approx(math.log1p(math.exp(-2.0)))
    p_m = 1 / (1 + math.e) - 0.05
    assert expected[1] == pytest.approx(-(p_m**4) * math.log(1 - p_m))
    loss = asymmetric_loss(torch.tensor([logits]), torch.tensor([targets]), torch.ones(1, 4))
    assert float(loss) == pytest.approx(sum(expected) / 4, abs=1e-6)


def test_positive_focusing_and_soft_targets_by_hand():
    logits, targets = [0.3, -2.0, 1.5], [1.0, 1.0, 0.25]
    expected = [by_hand(z, y, 2.0, 3.0, 0.1) for z, y in zip(logits, targets, strict=True)]
    loss = asymmetric_loss(
        torch.tensor([logits]),
        torch.tensor([targets]),
        torch.ones(1, 3),
        gamma_positive=2.0,
        gamma_negative=3.0,
        clip=0.1,
    )
    assert float(loss) == pytest.approx(sum(expected) / 3, abs=1e-6)


def test_the_strategy_computes_the_loss_of_its_labeled_rows():
    logits = torch.tensor([[2.0, -1.0, 0.5, 1.0], [0.0, 3.0, -3.0, 1.0]])
    strategy = build_strategy("asymmetric", SPEC, {"missing": "negative"})
    rows = batch([[1, 0, 0, 0], [0, 1, 0, 1]], [[1, 1, 0, 0], [1, 1, 1, 1]], [True, False])
    losses = strategy.losses(rows, FixedLogits(logits), None, 0, torch.Generator())
    expected = sum(by_hand(float(z), y, 0.0, 4.0, 0.05) for z, y in zip(logits[0], [1, 0, 0, 0], strict=True))
    assert float(losses["asl"].detach()) == pytest.approx(expected / 4, abs=1e-6)
    assert losses["total"] is losses["asl"]
    masked = build_strategy("asymmetric", SPEC, {"missing": "mask"})
    only_annotated = masked.losses(rows, FixedLogits(logits), None, 0, torch.Generator())["asl"]
    expected = by_hand(2.0, 1.0, 0.0, 4.0, 0.05) + by_hand(-1.0, 0.0, 0.0, 4.0, 0.05)
    assert float(only_annotated.detach()) == pytest.approx(expected / 2, abs=1e-6)


def test_without_focusing_or_shifting_it_is_the_masked_bce():
    g = torch.Generator().manual_seed(0)
    logits = 4 * torch.randn(8, 5, generator=g)
    targets = torch.rand(8, 5, generator=g)  # soft targets too
    targets[:4] = targets[:4].round()
    weights = (torch.rand(8, 5, generator=g) > 0.3).float()
    plain = asymmetric_loss(logits, targets, weights, gamma_positive=0.0, gamma_negative=0.0, clip=0.0)
    torch.testing.assert_close(plain, masked_bce(logits, targets, weights), rtol=1e-6, atol=1e-6)
    focused = asymmetric_loss(logits, targets, weights)
    assert not torch.isclose(focused, plain)


def test_entries_without_weight_do_not_change_the_loss():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, generator=g)
    targets = (torch.rand(6, 4, generator=g) > 0.5).float()
    weights = (torch.rand(6, 4, generator=g) > 0.5).float()
    flipped = torch.where(weights == 0, 1 - targets, targets)
    torch.testing.assert_close(
        asymmetric_loss(logits, targets, weights), asymmetric_loss(logits, flipped, weights)
    )
    changed = torch.where(weights == 1, 1 - targets, targets)
    assert not torch.isclose(
        asymmetric_loss(logits, targets, weights), asymmetric_loss(logits, changed, weights)
    )
    empty = torch.zeros(6, 4)
    assert float(asymmetric_loss(logits, targets, empty)) == 0.0


def test_a_negative_below_the_clip_has_no_loss_and_no_gradient():
    logits = torch.tensor([[-4.0, -1.0]], requires_grad=True)  # σ(−4) < 0.05 < σ(−1)
    asymmetric_loss(logits, torch.zeros(1, 2), torch.ones(1, 2)).backward()
    assert logits.grad is not None
    assert logits.grad[0, 0] == 0.0
    assert logits.grad[0, 1] > 0.0


@pytest.mark.parametrize(
    ("gamma_positive", "gamma_negative", "clip"),
    [(0.0, 4.0, 0.05), (0.0, 0.0, 0.0), (0.5, 0.5, 0.05), (1.0, 0.3, 0.0), (0.0, 4.0, 0.0)],
)
@pytest.mark.parametrize("scale", [50.0, 100.0])
def test_loss_and_gradients_are_finite_at_extreme_logits(gamma_positive, gamma_negative, clip, scale):
    logits = torch.tensor([[scale, -scale, scale, -scale, 0.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.5]])
    loss = asymmetric_loss(
        logits,
        targets,
        torch.ones(1, 5),
        gamma_positive=gamma_positive,
        gamma_negative=gamma_negative,
        clip=clip,
    )
    loss.backward()
    assert torch.isfinite(loss.detach())
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()
    # a confident wrong positive still costs about its logit when nothing focuses it away
    if gamma_positive == 0.0:
        assert float(loss.detach()) * 5 > scale * 0.99


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"clip": 1.0}, "clip"),
        ({"clip": -0.01}, "clip"),
        ({"gamma_negative": -1.0}, "gamma_negative"),
        ({"gamma_positive": 21.0}, "gamma_positive"),
        ({"missing": "ignore"}, "missing"),
        ({"gamma": 2.0}, "gamma"),
    ],
)
def test_bad_options_are_config_errors_naming_the_key(options, key):
    with pytest.raises(ConfigError, match=rf"strategy\.asymmetric\.{key}"):
        build_strategy("asymmetric", SPEC, options)


def test_a_config_built_directly_names_its_key():
    with pytest.raises(ConfigError, match=r"strategy_options\.clip must be in \[0, 1\)"):
        AsymmetricConfig(clip=1.5)


def test_mismatched_shapes_are_value_errors():
    with pytest.raises(ValueError, match="must have one shape"):
        asymmetric_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 2))
