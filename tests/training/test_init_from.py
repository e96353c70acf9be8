"""``init_from``: a run that starts from the weights of an earlier run (the pipelines' stages)."""

from __future__ import annotations

import pytest
import torch

from earmark.config import ConfigError, from_dict
from earmark.spec import SpecMismatchError
from earmark.testing.prepared import make_prepared
from earmark.training.checkpoint import load_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models train fastest on one thread (two threads contend on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY_CNN = {"channels": [8, 16], "width_multiplier": 1.0}


def config(prepared, **changes) -> TrainConfig:
    data = {
        "data": {"prepared": str(prepared), "train_folds": [1, 2], "valid_folds": [3]},
        "model": "cnn",
        "model_options": TINY_CNN,
        "segment_frames": 16,
        "batch_size": 8,
        "epochs": 1,
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "seed": 3,
        "report": False,
    }
    data.update(changes)
    return from_dict(TrainConfig, data)


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    root = tmp_path_factory.mktemp("init_from")
    prepared = make_prepared(root / "prepared")
    Trainer(config(prepared), root / "first").fit()
    return prepared, root / "first"


def test_the_model_starts_from_the_best_checkpoint_of_the_earlier_run(earlier, tmp_path):
    prepared, first = earlier
    best = load_checkpoint(first / "checkpoints" / "best.pt")["model"]
    trainer = Trainer(config(prepared, init_from=str(first), seed=99), tmp_path / "second")
    for name, value in trainer.model.state_dict().items():
        torch.testing.assert_close(value, best[name], rtol=0, atol=0, msg=name)
    fresh = Trainer(config(prepared, seed=99), tmp_path / "fresh")
    assert any(not torch.equal(value, best[name]) for name, value in fresh.model.state_dict().items()), (
        "without init_from the model is freshly initialised"
    )
    trainer.fit()
    assert "init_from" in (tmp_path / "second" / "config.yaml").read_text()


def test_without_a_best_checkpoint_the_last_one_is_used(earlier, tmp_path):
    prepared, _ = earlier
    run = tmp_path / "no-valid"
    Trainer(config(prepared, data={"prepared": str(prepared)}), run).fit()
    assert not (run / "checkpoints" / "best.pt").exists()
    last = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    trainer = Trainer(config(prepared, init_from=str(run)), tmp_path / "next")
    for name, value in trainer.model.state_dict().items():
        torch.testing.assert_close(value, last[name], rtol=0, atol=0, msg=name)


def test_bad_init_from(earlier, tmp_path):
    prepared, first = earlier
    with pytest.raises(ConfigError, match=r"init_from: .*nowhere has no checkpoints/best\.pt"):
        Trainer(config(prepared, init_from=str(tmp_path / "nowhere")), tmp_path / "a")
    wider = {"channels": [8, 32], "width_multiplier": 1.0}
    with pytest.raises(ConfigError, match=r"init_from: the weights in .*best\.pt do not fit model 'cnn'"):
        Trainer(config(prepared, init_from=str(first), model_options=wider), tmp_path / "b")
    other = make_prepared(tmp_path / "other", num_classes=3)
    with pytest.raises(SpecMismatchError, match=r"init_from .*best\.pt does not match the spec: classes"):
        Trainer(config(other, init_from=str(first)), tmp_path / "c")
