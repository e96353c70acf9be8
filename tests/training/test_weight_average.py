"""``ema_decay``: the run validates, checkpoints, scores and predicts with an EMA of its weights."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from earmark.config import ConfigError, from_dict
from earmark.testing.prepared import make_prepared
from earmark.testing.recipes import tiny_recipe
from earmark.training.averaging import average_copy, update_average, warmed_decay
from earmark.training.checkpoint import load_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.runs import load_run
from earmark.training.trainer import Trainer


def config(prepared, **overrides):
    recipe = tiny_recipe(
        prepared,
        data={"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
        epochs=3,
        optim={"lr": 3e-3, "warmup_steps": 2},
        checkpoint_every=2,
        seed=3,
        ema_decay=0.9,
    )
    return from_dict(TrainConfig, recipe | overrides)


@pytest.fixture
def prepared(tmp_path):
    return make_prepared(tmp_path / "prepared")


def test_warmed_decay_starts_low_and_reaches_the_decay():
    assert warmed_decay(0.99, 0) == pytest.approx(0.1)
    assert warmed_decay(0.99, 80) == pytest.approx(81 / 90)
    assert warmed_decay(0.99, 10_000) == 0.99
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="ema_decay must be in"):
            warmed_decay(bad, 3)
    with pytest.raises(ValueError, match="step must be"):
        warmed_decay(0.9, -1)


def test_the_average_follows_the_exponential_rule():
    trained = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    average = average_copy(trained)
    assert not any(p.requires_grad for p in average.parameters())
    assert not average.training
    start = {k: v.clone() for k, v in average.state_dict().items()}
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(1.0)
    trained.train()(torch.randn(5, 3))  # moves the running statistics and the batch counter
    update_average(average, trained, 0.99, step=1000)
    for name, value in average.state_dict().items():
        source = trained.state_dict()[name]
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.99 * start[name] + 0.01 * source)
        else:
            assert torch.equal(value, source), name


def test_a_run_evaluates_checkpoints_and_predicts_with_the_average(prepared, tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(config(prepared, validate_every=0), run)
    summary = trainer.fit()
    # the weights as trained are reported beside their average, on valid and test alike
    assert set(summary["reported"]) == {"trained"}
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in rows if r["split"] == "valid"]
    assert valid
    assert all("trained_lwlrap" in r for r in valid)
    # after the last step the average differs from the trained weights; last.pt's model is the
    # average (what load_run predicts with), and "trained" what a resumed run continues from
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    averaged = trainer.averaged.state_dict()
    for name, value in trainer.model.state_dict().items():
        torch.testing.assert_close(last["trained"][name], value, rtol=0, atol=0)
        torch.testing.assert_close(last["model"][name], averaged[name], rtol=0, atol=0)
    conv = next(k for k in averaged if k.endswith("weight") and averaged[k].dim() == 4)
    assert not torch.equal(averaged[conv], trainer.model.state_dict()[conv])
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    loaded = load_run(run)
    for name, value in loaded.model.state_dict().items():
        torch.testing.assert_close(value, best["model"][name], rtol=0, atol=0)


def test_without_validation_predict_uses_the_average_the_test_split_was_scored_with(prepared, tmp_path):
    run = tmp_path / "run"
    cfg = config(prepared, data={"prepared": str(prepared), "train_folds": [1, 2], "test_folds": [3]})
    trainer = Trainer(cfg, run)
    trainer.fit()
    assert not (run / "checkpoints" / "best.pt").exists()
    loaded = load_run(run)
    for name, value in trainer.averaged.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], value, rtol=0, atol=0)


def test_resume_continues_the_trained_weights_and_their_average(prepared, tmp_path):
    whole = Trainer(config(prepared), tmp_path / "whole")
    whole.fit()

    class Interrupt(Exception):
        pass

    def stop_at_5(step: int, total: int) -> None:
        if step == 5:
            raise Interrupt

    cut = tmp_path / "cut"
    with pytest.raises(Interrupt):
        Trainer(config(prepared, checkpoint_every=1), cut, on_step=stop_at_5).fit()
    resumed = Trainer(config(prepared, checkpoint_every=1), cut)
    resumed.fit(resume=True)
    for a, b in ((whole.model, resumed.model), (whole.averaged, resumed.averaged)):
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)


def test_a_strategy_with_its_own_teacher_refuses_ema_decay(prepared, tmp_path):
    with pytest.raises(ConfigError, match="already keeps an EMA teacher"):
        Trainer(config(prepared, strategy="mean_teacher"), tmp_path / "run")


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5])
def test_an_out_of_range_decay_is_refused(prepared, bad):
    with pytest.raises(ConfigError, match="ema_decay"):
        config(prepared, ema_decay=bad)
