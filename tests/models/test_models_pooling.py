from __future__ import annotations

import itertools
import math

import pytest
import torch

from earmark.models.pooling import (
    POOLINGS,
    attention_pool,
    attention_probability_pool,
    build_pooling,
    logsumexp_pool,
    max_pool,
    mean_pool,
)


@pytest.fixture
def frame_logits() -> torch.Tensor:
    return torch.tensor([[[1.0, -2.0], [3.0, 0.0], [-1.0, 0.5]], [[0.0, 0.0], [2.0, -4.0], [1.0, 1.0]]])


def test_mean_and_max(frame_logits: torch.Tensor) -> None:
    torch.testing.assert_close(mean_pool(frame_logits), torch.tensor([[1.0, -0.5], [1.0, -1.0]]))
    torch.testing.assert_close(max_pool(frame_logits), torch.tensor([[3.0, 0.5], [2.0, 1.0]]))


def test_uniform_attention_is_the_mean(frame_logits: torch.Tensor) -> None:
    uniform = torch.full_like(frame_logits, 0.7)
    torch.testing.assert_close(attention_pool(frame_logits, uniform), mean_pool(frame_logits))


def test_peaked_attention_selects_a_frame(frame_logits: torch.Tensor) -> None:
    attention = torch.full_like(frame_logits, -50.0)
    attention[:, 1] = 50.0
    torch.testing.assert_close(attention_pool(frame_logits, attention), frame_logits[:, 1])


def test_logsumexp_lies_between_mean_and_max_and_tends_to_both(frame_logits: torch.Tensor) -> None:
    values = [logsumexp_pool(frame_logits, r) for r in (1e-4, 0.5, 2.0, 10.0, 1000.0)]
    torch.testing.assert_close(values[0], mean_pool(frame_logits), atol=1e-3, rtol=0)
    torch.testing.assert_close(values[-1], max_pool(frame_logits), atol=1e-2, rtol=0)
    for smaller, larger in itertools.pairwise(values):
        assert (larger >= smaller - 1e-6).all()
    # the gap to the max shrinks like log(frames) / r
    gap = max_pool(frame_logits) - values[3]
    assert (gap <= math.log(3) / 10.0 + 1e-6).all()


def test_attention_probability_is_the_logit_of_the_weighted_mean_probability(
    frame_logits: torch.Tensor,
) -> None:
    attention = torch.tensor([[[0.0, 1.0], [2.0, -1.0], [0.5, 0.0]], [[1.0, 1.0], [0.0, 3.0], [-2.0, 0.0]]])
    weights = torch.softmax(attention, dim=1)
    probability = (weights * torch.sigmoid(frame_logits)).sum(dim=1)
    torch.testing.assert_close(attention_probability_pool(frame_logits, attention), torch.logit(probability))


def test_attention_probability_stays_finite_with_gradients_when_saturated() -> None:
    frame_logits = torch.tensor([[[80.0, -80.0], [90.0, -95.0]]], requires_grad=True)
    attention = torch.zeros(1, 2, 2)
    pooled = attention_probability_pool(frame_logits, attention)
    assert torch.isfinite(pooled).all()
    assert pooled[0, 0] > 79
    assert pooled[0, 1] < -79
    pooled.sum().backward()
    assert frame_logits.grad is not None
    assert (frame_logits.grad.abs() > 0).all()


@pytest.mark.parametrize("name", POOLINGS)
def test_pooling_modules(name: str) -> None:
    torch.manual_seed(0)
    pooling = build_pooling(name, 5, 3, logsumexp_sharpness=2.0)
    embeddings = torch.randn(4, 7, 5, requires_grad=True)
    logits = pooling(embeddings)
    assert logits.shape == (4, 3)
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in pooling.parameters())
    # one frame: every pooling reduces to the per-frame classifier (through its logit for probabilities)
    single = embeddings[:, :1].detach()
    torch.testing.assert_close(pooling(single), pooling.classifier(single[:, 0]), atol=1e-5, rtol=1e-5)


def test_attention_starts_uniform() -> None:
    pooling = build_pooling("attention", 5, 3)
    embeddings = torch.randn(2, 6, 5)
    torch.testing.assert_close(pooling(embeddings), pooling.classifier(embeddings).mean(dim=1))


def test_unknown_pooling_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown pooling 'median'; choose one of mean, max"):
        build_pooling("median", 4, 2)
    with pytest.raises(ValueError, match="logsumexp_sharpness must be positive"):
        build_pooling("logsumexp", 4, 2, logsumexp_sharpness=0.0)
