from __future__ import annotations

import math

import pytest
import torch
from strategy_helpers import FixedLogits

import earmark.strategies.large_loss as large_loss_module
from earmark.batch import Batch
from earmark.config import ConfigError
from earmark.features.logmel import LogMelConfig
from earmark.spec import TaggingSpec
from earmark.strategies import build_strategy, masked_bce
from earmark.strategies.large_loss import LargeLossConfig, large_loss_rate, select_large_losses
from earmark.strategies.supervised import supervised_targets

SPEC = TaggingSpec(("a", "b", "c", "d"), LogMelConfig(n_mels=16), segment_frames=16)
# rows 0 and 1 labeled, row 2 unlabeled. Row 0: (0, 0) annotated positive, (0, 1) annotated
# negative, (0, 2) and (0, 3) missing. Row 1: (1, 2) annotated positive, the rest missing.
POSITIVE = [[1, 0, 0, 0], [0, 0, 1, 0], [1, 1, 1, 1]]
ANNOTATED = [[1, 1, 0, 0], [0, 0, 1, 0], [1, 1, 1, 1]]
# the annotated negative (0, 1) has the largest loss of all; among the five missing entries the
# two largest losses are (0, 2) (logit 3) and (1, 1) (logit 2)
LOGITS = [[1.0, 5.0, 3.0, -1.0], [0.5, 2.0, -0.5, -2.0], [9.0, 9.0, 9.0, 9.0]]
# delta_rel 0.2 per 10 steps: step 25 is in the third period, rate 0.4, ceil(0.4 * 5) = 2 entries
OPTIONS = {"delta_rel": 0.2, "rate_every_steps": 10}
STEP = 25


def hand_batch(positive: list[list[int]] = POSITIVE, clip_ids: tuple[str, ...] = ("x", "y", "z")) -> Batch:
    return Batch(
        features=torch.zeros(3, 16, 16),
        positive=torch.tensor(positive, dtype=torch.float32),
        annotated=torch.tensor(ANNOTATED, dtype=torch.float32),
        labeled=torch.tensor([True, True, False]),
        clip_ids=clip_ids,
        sources=("curated", "curated", "unlabeled"),
    )


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# the BCE of each labeled entry, target 0 for missing ones: softplus(logit) for a negative,
# softplus(-logit) for a positive
PLAIN = {
    (0, 0): softplus(-1.0),
    (0, 1): softplus(5.0),
    (0, 2): softplus(3.0),
    (0, 3): softplus(-1.0),
    (1, 0): softplus(0.5),
    (1, 1): softplus(2.0),
    (1, 2): softplus(0.5),
    (1, 3): softplus(-2.0),
}
LARGEST = [(0, 2), (1, 1)]


def run(mode: str, step: int = STEP, **options: float) -> tuple[dict[str, torch.Tensor], FixedLogits]:
    strategy = build_strategy("large_loss", SPEC, {"mode": mode, **OPTIONS, **options})
    student = FixedLogits(LOGITS)
    losses = strategy.losses(hand_batch(), student, None, step, torch.Generator())
    return losses, student


def test_reject_drops_the_largest_missing_losses_and_keeps_the_denominator():
    losses, student = run("reject")
    expected = sum(v for k, v in PLAIN.items() if k not in LARGEST) / 8
    assert losses["bce"].item() == pytest.approx(expected, rel=1e-6)
    assert losses["total"] is losses["bce"]
    assert float(losses["rate"]) == pytest.approx(0.4)
    losses["total"].backward()
    grad = student.logits.grad
    assert grad is not None
    zero = {(r, c) for r in range(3) for c in range(4) if grad[r, c] == 0}
    # the rejected entries and the unlabeled row get no gradient; every other entry does
    assert zero == {*LARGEST, *((2, c) for c in range(4))}


def test_correct_temporary_flips_the_largest_missing_losses_to_positive():
    losses, student = run("correct_temporary")
    flipped = {(0, 2): softplus(-3.0), (1, 1): softplus(-2.0)}
    expected = sum(flipped.get(k, v) for k, v in PLAIN.items()) / 8
    assert losses["bce"].item() == pytest.approx(expected, rel=1e-6)
    losses["total"].backward()
    grad = student.logits.grad
    assert grad is not None
    # a positive target pushes the logit up: the gradient of the corrected entries is negative
    assert grad[0, 2] < 0
    assert grad[1, 1] < 0
    assert grad[0, 3] > 0
    assert grad[1, 0] > 0


@pytest.mark.parametrize("mode", ["reject", "correct_temporary", "correct_permanent"])
def test_the_first_period_is_b0(mode):
    losses, _ = run(mode, step=9)
    batch = hand_batch()
    targets, weights = supervised_targets(batch, missing="negative")
    b0 = masked_bce(torch.tensor(LOGITS), targets, weights)
    assert float(losses["rate"]) == 0.0
    torch.testing.assert_close(losses["bce"], b0)
    assert losses["bce"].item() == pytest.approx(sum(PLAIN.values()) / 8, rel=1e-6)


def test_the_rate_rises_by_delta_rel_per_period_up_to_max_rate():
    def rate(step: int) -> float:
        return large_loss_rate(step, delta_rel=0.002, rate_every_steps=100, max_rate=0.005)

    assert [rate(s) for s in (0, 99, 100, 199, 200, 250)] == pytest.approx([0, 0, 0.002, 0.002, 0.004, 0.004])
    assert rate(300) == 0.005
    assert rate(10_000) == 0.005
    with pytest.raises(ValueError, match="step must be >= 0"):
        rate(-1)
    strategy = build_strategy(
        "large_loss", SPEC, {"delta_rel": 0.002, "rate_every_steps": 100, "max_rate": 0.005}
    )
    assert strategy.rate(250) == pytest.approx(0.004)  # type: ignore[attr-defined]


def test_the_count_modified_is_the_ceiling_of_the_share():
    losses = torch.tensor([[0.1, 0.9, 0.5], [0.7, 0.3, 0.8]])
    candidates = torch.tensor([[True, True, True], [True, True, False]])
    # 5 candidates: 0.1 -> ceil(0.5) = 1, 0.4 -> 2, 0 -> none, 1 -> all of them, never (1, 2)
    assert torch.nonzero(select_large_losses(losses, candidates, 0.1)).tolist() == [[0, 1]]
    assert torch.nonzero(select_large_losses(losses, candidates, 0.4)).tolist() == [[0, 1], [1, 0]]
    assert not select_large_losses(losses, candidates, 0.0).any()
    assert torch.equal(select_large_losses(losses, candidates, 1.0), candidates)
    ties = select_large_losses(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool), 0.5)
    assert torch.nonzero(ties).tolist() == [[0, 0], [0, 1], [0, 2]]
    with pytest.raises(ValueError, match="differ"):
        select_large_losses(losses, candidates[:1], 0.5)


@pytest.mark.parametrize("mode", ["reject", "correct_temporary", "correct_permanent"])
def test_annotated_entries_and_unlabeled_rows_are_never_modified(mode):
    """Every missing entry modified (rate 1): annotated entries keep their plain BCE."""
    losses, _ = run(mode, max_rate=1.0, delta_rel=1.0)
    assert float(losses["rate"]) == 1.0
    annotated = [(0, 0), (0, 1), (1, 2)]
    missing = [k for k in PLAIN if k not in annotated]
    plain = sum(PLAIN[k] for k in annotated)
    if mode != "reject":  # every missing entry a positive
        plain += sum(softplus(-LOGITS[r][c]) for r, c in missing)
    assert losses["bce"].item() == pytest.approx(plain / 8, rel=1e-6)


def test_the_target_of_a_missing_entry_is_assumed_negative_whatever_positive_says():
    strategy = build_strategy("large_loss", SPEC, {"mode": "correct_temporary", **OPTIONS})
    other = [[1, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]]  # missing entries and the unlabeled row changed
    student = FixedLogits(LOGITS)
    a = strategy.losses(hand_batch(), student, None, STEP, torch.Generator())["bce"]
    b = strategy.losses(hand_batch(other), student, None, STEP, torch.Generator())["bce"]
    torch.testing.assert_close(a, b)


def test_correct_permanent_remembers_its_corrections_after_the_step():
    strategy = build_strategy("large_loss", SPEC, {"mode": "correct_permanent", **OPTIONS})
    student = FixedLogits(LOGITS)
    first = strategy.losses(hand_batch(), student, None, STEP, torch.Generator())
    # without an optimizer step nothing is remembered: the same call gives the same loss
    again = strategy.losses(hand_batch(), student, None, STEP, torch.Generator())
    torch.testing.assert_close(first["bce"], again["bce"])
    assert strategy.state_dict() == {"corrected": {}}
    strategy.after_step(student, None, STEP)
    assert strategy.state_dict() == {"corrected": {"x": [2], "y": [1]}}
    # in the first period nothing new is modified, yet the remembered entries stay positive
    later = strategy.losses(hand_batch(), student, None, 0, torch.Generator())
    flipped = {(0, 2): softplus(-3.0), (1, 1): softplus(-2.0)}
    assert later["bce"].item() == pytest.approx(
        sum(flipped.get(k, v) for k, v in PLAIN.items()) / 8, rel=1e-6
    )
    # remembered entries are no longer candidates: the next two largest are (0, 3) and (1, 0)
    strategy.losses(hand_batch(), student, None, STEP, torch.Generator())
    strategy.after_step(student, None, STEP)
    assert strategy.state_dict() == {"corrected": {"x": [2, 3], "y": [0, 1]}}


def test_an_annotation_overrides_a_remembered_correction_and_other_clips_are_untouched():
    strategy = build_strategy("large_loss", SPEC, {"mode": "correct_permanent", **OPTIONS})
    strategy.load_state_dict({"corrected": {"x": [1], "w": [0, 1, 2, 3]}})
    student = FixedLogits(LOGITS)
    # (0, 1) is annotated negative in this batch; clip w is not in it
    losses = strategy.losses(hand_batch(), student, None, 0, torch.Generator())
    assert losses["bce"].item() == pytest.approx(sum(PLAIN.values()) / 8, rel=1e-6)


def test_correct_permanent_state_round_trips_and_other_modes_keep_none():
    strategy = build_strategy("large_loss", SPEC, {"mode": "correct_permanent", **OPTIONS})
    student = FixedLogits(LOGITS)
    strategy.losses(hand_batch(), student, None, STEP, torch.Generator())
    strategy.after_step(student, None, STEP)
    fresh = build_strategy("large_loss", SPEC, {"mode": "correct_permanent", **OPTIONS})
    fresh.load_state_dict(strategy.state_dict())
    for step in (0, STEP):
        torch.testing.assert_close(
            fresh.losses(hand_batch(), student, None, step, torch.Generator())["bce"],
            strategy.losses(hand_batch(), student, None, step, torch.Generator())["bce"],
        )
    assert build_strategy("large_loss", SPEC, {"mode": "reject"}).state_dict() == {}
    with pytest.raises(ValueError, match=r"clip 'x' has class indices \[4\]"):
        fresh.load_state_dict({"corrected": {"x": [4]}})


def test_correct_permanent_refuses_a_distributed_run(monkeypatch):
    strategy = build_strategy("large_loss", SPEC, {"mode": "correct_permanent"})
    monkeypatch.setattr(large_loss_module, "world_size", lambda: 2)
    with pytest.raises(ConfigError, match=r"correct_permanent .* cannot run distributed"):
        strategy.prepare_labels(None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "reweight"}, "mode"),
        ({"delta_rel": -0.1}, r"delta_rel must be in \[0, 1\]"),
        ({"delta_rel": 2}, r"delta_rel must be in \[0, 1\]"),
        ({"rate_every_steps": 0}, "rate_every_steps must be >= 1"),
        ({"max_rate": 1.5}, r"max_rate must be in \[0, 1\]"),
        ({"delta": 0.1}, "delta"),
    ],
)
def test_bad_options_are_config_errors_naming_the_key(options, message):
    with pytest.raises(ConfigError, match=message):
        build_strategy("large_loss", SPEC, options)


def test_a_directly_built_config_is_checked_too():
    with pytest.raises(ConfigError, match=r"strategy_options.delta_rel must be in \[0, 1\], got -1"):
        LargeLossConfig(delta_rel=-1)
    with pytest.raises(ConfigError, match=r"strategy_options\.mode must be reject, correct_temporary"):
        LargeLossConfig(mode="reweight")  # type: ignore[arg-type]
