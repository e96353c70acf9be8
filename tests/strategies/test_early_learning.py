"""``early_learning`` (ELR): the regulariser by hand, the running average, its state."""

from __future__ import annotations

import math

import pytest
import torch
from strategy_helpers import SPEC, FixedLogits, labeled_batch

from earmark.strategies import build_strategy
from earmark.strategies.early_learning import EarlyLearningConfig, elr_regulariser


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_the_defaults_are_the_papers_cifar10_setting():
    assert (EarlyLearningConfig().weight, EarlyLearningConfig().momentum) == (3.0, 0.7)


def test_the_regulariser_by_hand():
    # p = σ(1) = 0.731 against t = 0.9: log(1 − (0.731 · 0.9 + 0.269 · 0.1))
    p = sigmoid(1.0)
    expected = math.log(1 - (p * 0.9 + (1 - p) * 0.1))
    value = elr_regulariser(torch.tensor([[1.0]]), torch.tensor([[0.9]]), torch.ones(1, 1))
    assert float(value) == pytest.approx(expected, abs=1e-6)
    # the gradient pushes p towards t: d/dz log(p(1 − t) + t(1 − p)) = (1 − 2t) p (1 − p) / (...)
    logits = torch.tensor([[1.0]], requires_grad=True)
    elr_regulariser(logits, torch.tensor([[0.9]]), torch.ones(1, 1)).backward()
    assert logits.grad is not None
    assert float(logits.grad) < 0  # descending raises the logit, towards t = 0.9


def test_two_steps_by_hand():
    """Step 0 starts each clip's average at its prediction; step 1 moves it by β = 0.5."""
    strategy = build_strategy("early_learning", SPEC, {"weight": 2.0, "momentum": 0.5})
    batch = labeled_batch([[1, 0, 0, 0]], [[1, 1, 1, 1]], labeled=[True])
    first = torch.tensor([[1.0, -1.0, 0.0, 2.0]])
    losses = strategy.losses(batch, FixedLogits(first), None, 0, torch.Generator())
    p = torch.sigmoid(first)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(first, batch.positive)
    reg = torch.log(2 * p * (1 - p)).mean()  # t = p at the first visit
    torch.testing.assert_close(losses["bce"].detach(), bce)
    torch.testing.assert_close(losses["elr"].detach(), reg)
    torch.testing.assert_close(losses["total"].detach(), bce + 2.0 * reg)
    strategy.after_step(FixedLogits(first), None, 0)
    second = torch.tensor([[-1.0, 1.0, 0.5, 0.0]])
    q = torch.sigmoid(second)
    t = 0.5 * p + 0.5 * q
    losses = strategy.losses(batch, FixedLogits(second), None, 1, torch.Generator())
    torch.testing.assert_close(losses["elr"].detach(), torch.log(q * (1 - t) + t * (1 - q)).mean())
    strategy.after_step(FixedLogits(second), None, 1)
    state = strategy.state_dict()
    assert state["clip_ids"] == ["c0"]
    torch.testing.assert_close(state["averages"], t)


def test_unlabeled_rows_carry_no_regulariser_and_a_bad_state_raises():
    strategy = build_strategy("early_learning", SPEC, {})
    batch = labeled_batch([[1, 0, 0, 0], [0, 0, 0, 0]], [[1, 1, 1, 1], [0, 0, 0, 0]], labeled=[True, False])
    logits = torch.tensor([[1.0, -1.0, 0.0, 2.0], [3.0, 3.0, 3.0, 3.0]])
    both = strategy.losses(batch, FixedLogits(logits), None, 0, torch.Generator())["elr"]
    alone = strategy.losses(
        labeled_batch([[1, 0, 0, 0]], [[1, 1, 1, 1]], labeled=[True]),
        FixedLogits(logits[:1]),
        None,
        0,
        torch.Generator(),
    )["elr"]
    torch.testing.assert_close(both, alone)
    with pytest.raises(ValueError, match="checkpoint is of another run"):
        strategy.load_state_dict({"clip_ids": ["c0"], "averages": torch.zeros(1, 7)})


def test_a_distributed_run_is_refused(monkeypatch):
    import earmark.strategies.early_learning as module

    monkeypatch.setattr(module, "world_size", lambda: 2)
    with pytest.raises(ValueError, match="cannot run distributed"):
        build_strategy("early_learning", SPEC, {}).prepare_labels(None, None)  # type: ignore[arg-type]
