"""The Pi-model ``consistency`` strategy beyond the contract: sigmoids, both views, zero weight."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from earmark.augment.specaugment import SpecAugment, SpecAugmentParams
from earmark.batch import Batch
from earmark.config import ConfigError, from_dict
from earmark.data.table import read_labels, write_labels
from earmark.features.logmel import LogMelConfig
from earmark.models import build_model
from earmark.spec import TaggingSpec
from earmark.strategies import build_strategy, masked_bce
from earmark.strategies.consistency import sigmoid_consistency
from earmark.testing.prepared import make_prepared
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models train fastest on one thread (two threads contend on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SPEC = TaggingSpec(("a", "b", "c", "d"), LogMelConfig(n_mels=16), segment_frames=16)


def batch(labeled: list[bool], seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    size = len(labeled)
    positive = (torch.rand(size, 4, generator=g) > 0.5).float()
    return Batch(
        features=torch.randn(size, 16, 16, generator=g),
        positive=positive,
        annotated=torch.ones_like(positive),
        labeled=torch.tensor(labeled),
        clip_ids=tuple(f"c{i}" for i in range(size)),
        sources=tuple("curated" if x else "unlabeled" for x in labeled),
    )


def student(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("cnn", SPEC, {"channels": [8, 16], "width_multiplier": 1.0, "dropout": 0.0})
    model.eval()  # no dropout: two passes over the same input agree
    return model


def test_the_term_compares_sigmoids_not_a_softmax():
    logits = torch.tensor([[0.0, 1.0, -2.0]])
    shifted = logits + 1.0  # the same softmax, other sigmoids
    assert torch.allclose(torch.softmax(logits, 1), torch.softmax(shifted, 1))
    expected = ((torch.sigmoid(logits) - torch.sigmoid(shifted)) ** 2).mean()
    torch.testing.assert_close(sigmoid_consistency(logits, torch.sigmoid(shifted)), expected)
    assert expected > 0.01
    with pytest.raises(ValueError, match=r"the two views' outputs differ in shape: \(1, 3\) and \(1, 2\)"):
        sigmoid_consistency(logits, torch.zeros(1, 2))


@pytest.mark.parametrize("views", ["specaugment", "mixup"])
def test_gradients_reach_the_model_through_both_views(views):
    model = student()
    outputs: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        output.retain_grad()
        outputs.append(output)

    model.register_forward_hook(keep)
    strategy = build_strategy("consistency", SPEC, {"weight": 1.0, "views": views})
    losses = strategy.losses(batch([False] * 4), model, None, 0, torch.Generator())  # unlabeled only: no BCE
    assert float(losses["bce"].detach()) == 0.0
    assert float(losses["consistency"].detach()) > 0
    losses["total"].backward()
    assert len(outputs) == 2
    for output in outputs:
        assert output.grad is not None
        assert output.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_zero_weight_is_the_plain_bce():
    data = batch([True, True, False, True], seed=2)
    mixup = build_strategy("consistency", SPEC, {"weight": 0.0, "views": "mixup"})
    supervised = build_strategy("supervised", SPEC, {"missing": "mask"})
    model = student()
    a = mixup.losses(data, model, None, 5, torch.Generator())
    b = supervised.losses(data, model, None, 5, torch.Generator())
    torch.testing.assert_close(a["total"], b["total"], rtol=0, atol=0)
    assert float(a["consistency"].detach()) == 0.0
    # specaugment views: the BCE of view a, SpecAugment drawn from the generator given
    spec = build_strategy("consistency", SPEC, {"weight": 0.0})
    view = SpecAugment()(data.features, torch.Generator().manual_seed(8))
    expected = masked_bce(model(view), data.positive, data.annotated * data.labeled[:, None].float())
    got = spec.losses(data, model, None, 5, torch.Generator().manual_seed(8))["total"]
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_weight_and_ramp_up_scale_the_term():
    strategy = build_strategy("consistency", SPEC, {"weight": 0.5, "rampup_steps": 10})
    assert strategy.scale(0) == pytest.approx(0.5 * math.exp(-5))
    assert strategy.scale(10) == pytest.approx(0.5)
    assert strategy.scale(1000) == pytest.approx(0.5)
    model = student()
    losses = strategy.losses(batch([True, False, True, False]), model, None, 10, torch.Generator())
    torch.testing.assert_close(losses["total"], losses["bce"] + 0.5 * losses["consistency"])


@pytest.mark.parametrize("views", ["specaugment", "mixup"])
def test_views_repeat_for_a_seed_and_differ_between_seeds(views):
    strategy = build_strategy("consistency", SPEC, {"weight": 1.0, "views": views})
    model = student()
    data = batch([True] * 3 + [False] * 3)

    def consistency(seed: int) -> torch.Tensor:
        return strategy.losses(data, model, None, 3, torch.Generator().manual_seed(seed))["consistency"]

    first = consistency(0)
    torch.testing.assert_close(consistency(0), first, rtol=0, atol=0)
    assert not torch.equal(consistency(1), first)
    # the run's one generator draws new views at every step (it is never reseeded)
    draws = torch.Generator().manual_seed(0)
    once = strategy.losses(data, model, None, 3, draws)["consistency"]
    twice = strategy.losses(data, model, None, 3, draws)["consistency"]
    torch.testing.assert_close(once, first, rtol=0, atol=0)
    assert not torch.equal(twice, first)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"weight": -1.0}, r"strategy\.consistency\.weight and rampup_steps must be >= 0"),
        ({"mixup_alpha": 0.0}, r"mixup_alpha must be positive"),
        ({"views": "cutout"}, r"strategy\.consistency\.views must be one of 'specaugment', 'mixup'"),
        (
            {"specaugment": {"time_mask": 2}},
            r"unknown config key strategy\.consistency\.specaugment\.time_mask",
        ),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ConfigError, match=message):
        build_strategy("consistency", SPEC, options)


def test_trains_with_labeled_and_unlabeled_batches(tmp_path):
    prepared = make_prepared(tmp_path / "prepared", num_clips=48)
    labels = read_labels(prepared / "labels.csv")
    source = np.where(np.arange(labels.num_clips) % 2 == 0, "curated", "unlabeled")
    unlabeled = source == "unlabeled"
    stripped = labels.with_matrices(
        positive=labels.positive & ~unlabeled[:, None], annotated=labels.annotated & ~unlabeled[:, None]
    )
    write_labels(dataclasses.replace(stripped, source=source), tmp_path / "labels.csv")
    config = from_dict(
        TrainConfig,
        {
            "data": {"prepared": str(prepared), "labels": str(tmp_path / "labels.csv"), "test_folds": [3]},
            "model": "cnn",
            "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
            "strategy": "consistency",
            "strategy_options": {"weight": 1.0, "rampup_steps": 4},
            "sampler": "labeled_unlabeled",
            "labeled_per_batch": 4,
            "batch_size": 8,
            "segment_frames": 16,
            "epochs": 2,
            "report": False,
        },
    )
    summary = Trainer(config, tmp_path / "run").fit()
    labeled = int((~unlabeled & (labels.fold != 3)).sum())
    assert summary["steps"] == 2 * (labeled // 4)  # an epoch is one pass over the labeled clips
    assert np.isfinite(summary["test"]["lwlrap"])


def _run_config(prepared, **overrides):
    return from_dict(
        TrainConfig,
        {
            "data": {"prepared": str(prepared), "train_folds": [1, 2]},
            "model": "cnn",
            "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
            "strategy": "consistency",
            "strategy_options": {"weight": 1.0},
            "batch_size": 8,
            "segment_frames": 16,
            "report": False,
            **overrides,
        },
    )


def test_each_seed_of_a_run_draws_its_own_views(tmp_path, monkeypatch):
    """The views come from the run's seeded generator: the issue was one set of views for every seed."""
    prepared = make_prepared(tmp_path / "prepared", num_clips=24)
    drawn: list[SpecAugmentParams] = []
    sample = SpecAugment.sample

    def recording(self, *args, **kwargs):
        drawn.append(sample(self, *args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(SpecAugment, "sample", recording)

    def views(seed: int, run: str) -> list[torch.Tensor]:
        drawn.clear()
        Trainer(_run_config(prepared, seed=seed, max_steps=2), tmp_path / run).fit()
        assert len(drawn) == 4  # two views a step, two steps
        return [torch.cat([p.time_starts, p.time_widths, p.freq_starts, p.freq_widths], 1) for p in drawn]

    first, again, other = views(0, "a"), views(0, "b"), views(1, "c")
    for a, b in zip(first, again, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert all(not torch.equal(a, c) for a, c in zip(first, other, strict=True))


def test_a_resumed_run_draws_the_views_of_an_uninterrupted_one(tmp_path):
    prepared = make_prepared(tmp_path / "prepared", num_clips=24)
    whole = Trainer(_run_config(prepared, epochs=3), tmp_path / "whole")
    whole.fit()

    class Interrupt(Exception):
        pass

    def stop_at_3(step: int, total: int) -> None:
        if step == 3:
            raise Interrupt

    cut = _run_config(prepared, epochs=3, checkpoint_every=1)
    with pytest.raises(Interrupt):
        Trainer(cut, tmp_path / "cut", on_step=stop_at_3).fit()
    resumed = Trainer(cut, tmp_path / "cut")
    resumed.fit(resume=True)
    assert resumed.step == whole.step > 3
    resumed_state = resumed.model.state_dict()
    for name, value in whole.model.state_dict().items():
        torch.testing.assert_close(resumed_state[name], value, rtol=0, atol=0, msg=name)
