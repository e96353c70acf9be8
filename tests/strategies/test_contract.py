"""The contract every registered strategy must pass (adding a strategy = one line in CASES)."""

from __future__ import annotations

import copy

import pytest
import torch

from earmark.features.logmel import LogMelConfig
from earmark.models import build_model
from earmark.spec import TaggingSpec
from earmark.strategies import STRATEGIES, build_strategy
from earmark.training.batch import Batch

# (strategy name, options, loss terms that must be non-zero on a random batch)
CASES = [
    ("supervised", {"missing": "mask"}, ["bce"]),
    ("supervised", {"missing": "negative"}, ["bce"]),
    (
        "supervised",
        {"missing": "mask", "label_smoothing": 0.1, "class_weights": [1.0, 2.0, 0.5, 1.0]},
        ["bce"],
    ),
    (
        "mean_teacher",
        {"alpha": 0.9, "rampup_steps": 0, "teacher_view": "specaugment"},
        ["bce", "consistency"],
    ),
    ("mean_teacher", {"missing": "negative", "teacher_view": "specaugment", "rampup_steps": 5}, ["bce"]),
    ("label_enhancement", {"teacher_run": "runs/teacher", "gamma": 10}, ["bce"]),
    ("consistency", {"weight": 1.0, "views": "specaugment"}, ["bce", "consistency"]),
    (
        "le_mean_teacher",
        {"teacher_run": "runs/teacher", "percent": 1.0, "teacher_view": "specaugment"},
        ["bce"],
    ),
]
SPEC = TaggingSpec(("a", "b", "c", "d"), LogMelConfig(n_mels=16), segment_frames=16)
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


def test_every_registered_strategy_has_a_case():
    assert {name for name, _, _ in CASES} == set(STRATEGIES)


def make_batch(seed: int = 0, size: int = 6) -> Batch:
    g = torch.Generator().manual_seed(seed)
    positive = (torch.rand(size, 4, generator=g) > 0.6).float()
    annotated = torch.maximum((torch.rand(size, 4, generator=g) > 0.3).float(), positive)
    labeled = torch.tensor([True] * (size - 2) + [False] * 2)
    return Batch(
        features=torch.randn(size, 16, 16, generator=g),
        positive=positive,
        annotated=annotated,
        labeled=labeled,
        clip_ids=tuple(f"c{i}" for i in range(size)),
        sources=tuple(["curated"] * (size - 2) + ["unlabeled"] * 2),
    )


def make(name: str, options: dict, seed: int = 0):
    torch.manual_seed(seed)
    student = build_model("cnn", SPEC, {"channels": [8, 16], "width_multiplier": 1.0})
    strategy = build_strategy(name, SPEC, options)
    teacher = strategy.make_teacher(student)
    return strategy, student, teacher


def two_steps(name: str, options: dict, seed: int = 0):
    strategy, student, teacher = make(name, options, seed)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    history = []
    for step in range(2):
        losses = strategy.losses(make_batch(step), student, teacher, step)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        strategy.after_step(student, teacher, step)
        history.append({k: float(v.detach()) for k, v in losses.items()})
    return strategy, student, teacher, history


@pytest.mark.parametrize(("name", "options", "nonzero"), CASES, ids=IDS)
def test_two_steps_give_finite_losses_with_the_expected_terms(name, options, nonzero):
    _, _, _, history = two_steps(name, options)
    for losses in history:
        assert "total" in losses
        assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
        for term in nonzero:
            assert losses[term] > 0, term


@pytest.mark.parametrize(("name", "options", "nonzero"), CASES, ids=IDS)
def test_gradients_reach_every_student_parameter(name, options, nonzero):
    strategy, student, teacher = make(name, options)
    strategy.losses(make_batch(), student, teacher, 0)["total"].backward()
    missing = [
        n
        for n, p in student.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum())
    ]
    assert not missing


@pytest.mark.parametrize(("name", "options", "nonzero"), CASES, ids=IDS)
def test_teacher_changes_only_through_the_strategy(name, options, nonzero):
    strategy, student, teacher = make(name, options)
    if teacher is None:
        pytest.skip(f"{name} has no teacher")
    before = copy.deepcopy(teacher.state_dict())
    strategy.losses(make_batch(), student, teacher, 0)["total"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    for key, value in teacher.state_dict().items():
        torch.testing.assert_close(value, before[key])


@pytest.mark.parametrize(("name", "options", "nonzero"), CASES, ids=IDS)
def test_targets_without_weight_do_not_change_the_loss(name, options, nonzero):
    strategy, student, teacher = make(name, options)
    student.eval()  # no dropout: the same forward twice
    batch = make_batch()
    # entries that carry no supervised weight: missing ones under masking, unlabeled rows always
    free = ~batch.labeled[:, None].expand_as(batch.positive)
    if options.get("missing", "mask") == "mask":
        free = free | (batch.annotated == 0)
    flipped = Batch(
        batch.features,
        torch.where(free, 1 - batch.positive, batch.positive),
        batch.annotated,
        batch.labeled,
        batch.clip_ids,
        batch.sources,
    )
    torch.manual_seed(3)
    a = strategy.losses(batch, student, teacher, 0)["total"]
    torch.manual_seed(3)
    b = strategy.losses(flipped, student, teacher, 0)["total"]
    torch.testing.assert_close(a, b)
    changed = Batch(
        batch.features,
        torch.where(free, batch.positive, 1 - batch.positive),
        batch.annotated,
        batch.labeled,
        batch.clip_ids,
        batch.sources,
    )
    torch.manual_seed(3)
    assert not torch.isclose(strategy.losses(changed, student, teacher, 0)["total"], a)


@pytest.mark.parametrize(("name", "options", "nonzero"), CASES, ids=IDS)
def test_state_round_trips_and_seeded_runs_repeat(name, options, nonzero):
    strategy, student, _, history = two_steps(name, options, seed=5)
    _, again_student, _, again_history = two_steps(name, options, seed=5)
    assert history == again_history
    for key, value in student.state_dict().items():
        torch.testing.assert_close(value, again_student.state_dict()[key], rtol=0, atol=0)
    fresh = build_strategy(name, SPEC, options)
    fresh.load_state_dict(strategy.state_dict())
    assert fresh.state_dict().keys() == strategy.state_dict().keys()
