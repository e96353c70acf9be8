"""The contract every registered strategy must pass (adding a strategy = one line in CASES)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from strategy_helpers import make_labels
from torch import nn

from earmark.batch import Batch
from earmark.data.labels import Labels
from earmark.features.logmel import LogMelConfig
from earmark.inference import Segmenting
from earmark.models import build_model
from earmark.spec import TaggingSpec
from earmark.strategies import STRATEGIES, Strategy, TrainingContext, build_strategy
from earmark.strategies.supervised import Supervised, SupervisedConfig

ENHANCE = {"teacher_run": "runs/teacher", "percent": 1.0}
# an audit table naming c1's class a, the whole clip c3 and a clip outside the training labels
SUSPECTS = {"table": str(Path(__file__).parent / "data" / "suspects.csv"), "factor": 0.25}
# (strategy name, options, loss terms that must be non-zero on a random batch, draws views from
# the generator it is given)
CASES = [
    ("supervised", {"missing": "mask"}, ["bce"], False),
    ("supervised", {"missing": "negative"}, ["bce"], False),
    (
        "supervised",
        {"missing": "mask", "label_smoothing": 0.1, "class_weights": [1.0, 2.0, 0.5, 1.0]},
        ["bce"],
        False,
    ),
    ("supervised", {"enhance": ENHANCE}, ["bce"], False),
    ("asymmetric", {"missing": "negative"}, ["asl"], False),
    (
        "asymmetric",
        {"missing": "mask", "gamma_positive": 1.0, "gamma_negative": 2.0, "clip": 0.0},
        ["asl"],
        False,
    ),
    ("generalized_ce", {}, ["lq"], False),
    ("generalized_ce", {"missing": "negative", "q": 0.3}, ["lq"], False),
    ("supervised", {"suspects": SUSPECTS}, ["bce"], False),
    ("generalized_ce", {"suspects": {**SUSPECTS, "factor": 0.0, "top": 1}}, ["lq"], False),
    ("symmetric_ce", {}, ["sce"], False),
    (
        "symmetric_ce",
        {"missing": "negative", "alpha": 6.0, "beta": 0.1, "suspects": SUSPECTS},
        ["sce"],
        False,
    ),
    ("bootstrap", {}, ["bootstrap"], False),
    ("expected_positive", {}, ["bce", "epr"], False),
    ("expected_positive", {"expected_positives": 3.5, "weight": 10.0}, ["bce", "epr"], False),
    ("expected_positive", {"weight": 0.0, "entropy_weight": 0.1}, ["bce", "entropy"], False),
    ("early_learning", {}, ["bce"], False),
    (
        "early_learning",
        {"weight": 7.0, "momentum": 0.9, "missing": "negative", "suspects": SUSPECTS},
        ["bce"],
        False,
    ),
    ("pseudo_label", {"teacher_run": "runs/teacher"}, ["bce"], False),
    (
        "pseudo_label",
        {"teacher_run": "runs/teacher", "threshold": 0.5, "weight": 0.5, "unlabeled": False},
        ["bce"],
        False,
    ),
    (
        "pseudo_label",
        {"teacher_run": "runs/teacher", "temperature": 0.5, "suspects": SUSPECTS},
        ["bce"],
        False,
    ),
    ("bootstrap", {"mode": "hard", "beta": 0.8, "missing": "negative"}, ["bootstrap"], False),
    # single-label (softmax) forms: trained on labels with one class per clip
    ("supervised", {"output": "softmax", "label_smoothing": 0.1, "suspects": SUSPECTS}, ["bce"], False),
    ("generalized_ce", {"output": "softmax"}, ["lq"], False),
    ("symmetric_ce", {"output": "softmax", "alpha": 6.0, "beta": 0.1}, ["sce"], False),
    ("bootstrap", {"output": "softmax", "mode": "hard", "beta": 0.8}, ["bootstrap"], False),
    ("bootstrap", {"output": "softmax"}, ["bootstrap"], False),
    (
        "mean_teacher",
        {"alpha": 0.9, "rampup_steps": 0, "teacher_view": "specaugment"},
        ["bce", "consistency"],
        True,
    ),
    (
        "mean_teacher",
        {"missing": "negative", "teacher_view": "specaugment", "rampup_steps": 5},
        ["bce"],
        True,
    ),
    ("mean_teacher", {"alpha": 0.9, "enhance": ENHANCE}, ["bce", "consistency"], False),
    ("label_enhancement", {"teacher_run": "runs/teacher", "gamma": 10}, ["bce"], False),
    ("label_enhancement", {"teacher_run": "runs/teacher", "gamma": "auto"}, ["bce"], False),
    ("large_loss", {"mode": "reject", "delta_rel": 0.1, "rate_every_steps": 1}, ["bce"], False),
    ("large_loss", {"mode": "correct_temporary", "delta_rel": 0.1, "rate_every_steps": 1}, ["bce"], False),
    ("large_loss", {"mode": "correct_permanent", "delta_rel": 0.1, "rate_every_steps": 1}, ["bce"], False),
    ("consistency", {"weight": 1.0, "views": "specaugment"}, ["bce", "consistency"], True),
    ("consistency", {"weight": 1.0, "views": "mixup", "enhance": ENHANCE}, ["bce", "consistency"], True),
    (
        "le_mean_teacher",
        {"teacher_run": "runs/teacher", "percent": 1.0, "teacher_view": "specaugment"},
        ["bce"],
        True,
    ),
]
SPEC = TaggingSpec(("a", "b", "c", "d"), LogMelConfig(n_mels=16), segment_frames=16)
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]
Models = tuple[Strategy, nn.Module, nn.Module | None]


def test_every_registered_strategy_has_a_case():
    assert {name for name, *_ in CASES} == set(STRATEGIES)


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


def student_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("cnn", SPEC, {"channels": [8, 16], "width_multiplier": 1.0})


def training_labels(size: int = 6, *, single_label: bool = False) -> Labels:
    """The labels of the clips ``make_batch`` draws (c0 ... c5), positives only.

    ``single_label``: one class per clip (what ``output: softmax`` trains on).
    """
    positive = np.arange(size * 4).reshape(size, 4) % 3 == 0
    if single_label:
        positive = np.eye(4, dtype=bool)[np.arange(size) % 4]
    return make_labels(positive, positive)


@dataclasses.dataclass
class TeacherStandIn:
    """What ``load_run`` gives a strategy: a finished run on the same classes."""

    directory: Path = Path("runs/teacher")
    checkpoint: Path = Path("runs/teacher/checkpoints/best.pt")
    spec: TaggingSpec = SPEC
    model: nn.Module = dataclasses.field(default_factory=nn.Identity)
    segmenting: Segmenting = dataclasses.field(
        default_factory=lambda: Segmenting(segment_frames=16, hop_frames=16)
    )


def teacher_scores(model: nn.Module, labels: Labels, segmenting: Segmenting) -> np.ndarray:
    """Fixed probabilities in (0, 1), one row per clip, different in every entry."""
    n, k = labels.positive.shape
    return (np.arange(n * k).reshape(n, k) + 0.5) / (n * k)


CONTEXT = TrainingContext(
    Path("runs/student"),
    SPEC,
    False,  # writes no file
    teacher_scores,
    load_run=lambda directory, *, checkpoint="best": TeacherStandIn(),
)


def make(name: str, options: dict, seed: int = 0) -> Models:
    """The strategy, prepared as the Trainer prepares it, a student and the strategy's teacher."""
    student = student_model(seed)
    strategy = build_strategy(name, SPEC, options)
    strategy.prepare_labels(training_labels(single_label=strategy.output == "softmax"), CONTEXT)
    return strategy, student, strategy.make_teacher(student)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def train_steps(models: Models, steps: range, draws: torch.Generator) -> list[dict[str, float]]:
    """SGD steps on batches seeded by the step; the losses of each step."""
    strategy, student, teacher = models
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)  # no momentum: no optimizer state
    history = []
    for step in steps:
        losses = strategy.losses(make_batch(step), student, teacher, step, draws)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        strategy.after_step(student, teacher, step)
        history.append({k: float(v.detach()) for k, v in losses.items()})
    return history


def two_steps(name: str, options: dict, seed: int = 0, generator_seed: int = 0):
    models = make(name, options, seed)
    history = train_steps(models, range(2), generator(generator_seed))
    return (*models, history)


@pytest.mark.parametrize(("name", "options", "nonzero", "draws"), CASES, ids=IDS)
def test_two_steps_give_finite_losses_with_the_expected_terms(name, options, nonzero, draws):
    *_, history = two_steps(name, options)
    for losses in history:
        assert "total" in losses
        assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
        for term in nonzero:
            assert losses[term] > 0, term


@pytest.mark.parametrize(("name", "options", "nonzero", "draws"), CASES, ids=IDS)
def test_gradients_reach_every_student_parameter(name, options, nonzero, draws):
    strategy, student, teacher = make(name, options)
    strategy.losses(make_batch(), student, teacher, 0, generator())["total"].backward()
    missing = [
        n
        for n, p in student.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum())
    ]
    assert not missing


@pytest.mark.parametrize(("name", "options", "nonzero", "draws"), CASES, ids=IDS)
def test_teacher_changes_only_through_the_strategy(name, options, nonzero, draws):
    strategy, student, teacher = make(name, options)
    if teacher is None:
        pytest.skip(f"{name} has no teacher")
    before = copy.deepcopy(teacher.state_dict())
    strategy.losses(make_batch(), student, teacher, 0, generator())["total"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    for key, value in teacher.state_dict().items():
        torch.testing.assert_close(value, before[key])


@pytest.mark.parametrize(("name", "options", "nonzero", "draws"), CASES, ids=IDS)
def test_targets_without_weight_do_not_change_the_loss(name, options, nonzero, draws):
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
    a = strategy.losses(batch, student, teacher, 0, generator(3))["total"]
    torch.manual_seed(3)
    b = strategy.losses(flipped, student, teacher, 0, generator(3))["total"]
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
    assert not torch.isclose(strategy.losses(changed, student, teacher, 0, generator(3))["total"], a)


@pytest.mark.parametrize(("name", "options", "nonzero", "draws"), CASES, ids=IDS)
def test_a_seeded_run_repeats_exactly(name, options, nonzero, draws):
    _, student, _, history = two_steps(name, options, seed=5, generator_seed=1)
    _, again_student, _, again_history = two_steps(name, options, seed=5, generator_seed=1)
    assert history == again_history
    for key, value in student.state_dict().items():
        torch.testing.assert_close(value, again_student.state_dict()[key], rtol=0, atol=0)


@pytest.mark.parametrize(("name", "options", "nonzero", "draws"), CASES, ids=IDS)
def test_views_come_from_the_generator_given(name, options, nonzero, draws):
    """Two seeds of the run's generator give other views; a strategy that draws none leaves it be."""
    strategy, student, teacher = make(name, options)
    student.eval()
    batch = make_batch()

    def terms(draws_from: torch.Generator) -> dict[str, float]:
        torch.manual_seed(0)  # the same dropout noise (the teacher's) in every call
        losses = strategy.losses(batch, student, teacher, 7, draws_from)
        return {k: float(v.detach()) for k, v in losses.items()}

    seeded = generator(1)
    first = terms(seeded)
    if draws:
        assert not torch.equal(seeded.get_state(), generator(1).get_state())
        assert terms(generator(2)) != first
    else:
        assert torch.equal(seeded.get_state(), generator(1).get_state())
        assert terms(generator(2)) == first
    assert terms(generator(1)) == first


def check_state_round_trip(build: Callable[[int], Models]) -> None:
    """A strategy with history keeps it in its ``state_dict``, and is restored from it exactly.

    After two steps, what a checkpoint holds (strategy state, student, teacher, the generator
    and the global random state) is saved and the original trains two more steps. A strategy
    built afresh (other initial weights) from the saved models, *without* the strategy state,
    tells whether the strategy behaves by its history: if it trains otherwise, the saved state
    must not be empty. A strategy built afresh that loads the saved state must train the same
    two steps exactly: equal losses and weights.
    """
    original = build(5)
    draws = generator(11)
    train_steps(original, range(2), draws)
    strategy, student, teacher = original
    saved_strategy = copy.deepcopy(strategy.state_dict())
    saved_student = copy.deepcopy(student.state_dict())
    saved_teacher = None if teacher is None else copy.deepcopy(teacher.state_dict())
    saved_draws, saved_rng = draws.get_state(), torch.get_rng_state()

    def restored(load_strategy_state: bool) -> tuple[list[dict[str, float]], nn.Module]:
        fresh, fresh_student, fresh_teacher = build(9)
        fresh_student.load_state_dict(saved_student)
        if fresh_teacher is not None and saved_teacher is not None:
            fresh_teacher.load_state_dict(saved_teacher)
        if load_strategy_state:
            fresh.load_state_dict(copy.deepcopy(saved_strategy))
        resumed_draws = torch.Generator()
        resumed_draws.set_state(saved_draws)
        torch.set_rng_state(saved_rng)
        return train_steps((fresh, fresh_student, fresh_teacher), range(2, 4), resumed_draws), fresh_student

    torch.set_rng_state(saved_rng)
    expected = train_steps(original, range(2, 4), draws)
    without_state, _ = restored(load_strategy_state=False)
    if without_state != expected:
        assert saved_strategy, "the strategy behaves by its history but its state_dict is empty"
    history, resumed_student = restored(load_strategy_state=True)
    assert history == expected, "a strategy loaded from its state_dict does not continue as the original"
    for key, value in student.state_dict().items():
        torch.testing.assert_close(resumed_student.state_dict()[key], value, rtol=0, atol=0, msg=key)


@pytest.mark.parametrize(("name", "options", "nonzero", "draws"), CASES, ids=IDS)
def test_state_round_trips(name, options, nonzero, draws):
    check_state_round_trip(lambda seed: make(name, options, seed))


class _CountsBatches(Supervised):
    """Test-only state: the loss is scaled by the batches seen so far (a stand-in for real state).

    ``keeps`` says what it does with that state: ``all`` saves and restores it, ``nothing``
    leaves it out of ``state_dict``, ``unrestored`` saves it but ignores it when loading.
    """

    def __init__(self, keeps: str) -> None:
        super().__init__(SPEC, SupervisedConfig())
        self.keeps = keeps
        self.batches = 0

    def losses(self, batch, student, teacher, step, generator):
        self.batches += 1
        losses = super().losses(batch, student, teacher, step, generator)
        return {**losses, "total": losses["total"] * self.batches}

    def state_dict(self) -> dict[str, Any]:
        return {} if self.keeps == "nothing" else {"batches": self.batches}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.keeps == "all":
            self.batches = int(state["batches"])


def _counting(keeps: str) -> Callable[[int], Models]:
    def build(seed: int) -> Models:
        return _CountsBatches(keeps), student_model(seed), None

    return build


def test_the_state_check_passes_a_strategy_that_keeps_its_state():
    check_state_round_trip(_counting("all"))


@pytest.mark.parametrize(
    ("keeps", "message"),
    [("nothing", "its state_dict is empty"), ("unrestored", "does not continue as the original")],
)
def test_the_state_check_fails_a_strategy_that_loses_its_state(keeps, message):
    with pytest.raises(AssertionError, match=message):
        check_state_round_trip(_counting(keeps))
