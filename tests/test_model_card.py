"""MODEL_CARD.md: generated from the run at the end of training, beside every export, on demand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import earmark
from earmark.cli import app
from earmark.data.table import read_labels
from earmark.spec import TaggingSpec
from earmark.testing.prepared import make_prepared
from earmark.testing.recipes import tiny_recipe
from earmark.training.card import model_card

runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("card")
    prepared = make_prepared(root / "prepared", num_clips=30)
    data = {"prepared": str(prepared), "valid_folds": [2], "test_folds": [3]}
    earmark.train(tiny_recipe(prepared, data=data, strategy_options={"missing": "mask"}), root / "run")
    return root / "run"


def test_training_writes_a_card_from_the_run(run):
    card = (run / "MODEL_CARD.md").read_text()
    assert card == model_card(run)  # generated from the run's files: the same when regenerated
    labels = read_labels(Path(earmark.load_run(run).runs[0].config.data.prepared) / "labels.csv")
    for k, name in enumerate(labels.class_names):
        train = int(labels.positive[labels.fold == 1, k].sum())
        valid = int(labels.positive[labels.fold == 2, k].sum())
        test = int(labels.positive[labels.fold == 3, k].sum())
        assert f"| {name} | {train} | {valid} | {test} |" in card
    spec = TaggingSpec.from_dict(json.loads((run / "spec.json").read_text()))
    assert f"hash `{spec.frontend_hash}`" in card
    parameters = sum(p.numel() for p in earmark.load_run(run).runs[0].model.parameters())
    assert f"{parameters:,} parameters" in card
    assert "strategy: `supervised`" in card
    assert '`missing: "mask"`' in card
    assert "- clips: train 10, valid 10, test 10" in card
    # figures of both held-out splits, the headline ones with an interval
    assert re.search(r"\| test \| lwlrap \| [0-9.]+ \| \[[0-9.]+, [0-9.]+\] \| 10 \|", card)
    assert re.search(r"\| valid \| lwlrap \| [0-9.]+ \|", card)
    assert "## Intended use and known limits" in card
    assert "best checkpoint by validation `lwlrap`" in card
    assert "moving average" not in card


def test_the_card_says_which_weights_a_run_without_validation_keeps(tmp_path):
    prepared = make_prepared(tmp_path / "prepared", num_clips=20)
    data = {"prepared": str(prepared), "test_folds": [3]}
    earmark.train(tiny_recipe(prepared, data=data, ema_decay=0.9), tmp_path / "run")
    card = (tmp_path / "run" / "MODEL_CARD.md").read_text()
    assert "the weights at the end of training (no validation split)" in card
    assert "best checkpoint" not in card
    assert "- weights: an exponential moving average of the trained weights (decay 0.9)" in card


def test_export_writes_the_card_beside_the_model_and_model_card_regenerates(run, tmp_path):
    result = runner.invoke(app, ["export", "--run", str(run), "--out", str(tmp_path / "export" / "model.pt")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "export" / "MODEL_CARD.md").read_text() == model_card(run)
    again = runner.invoke(app, ["model-card", "--run", str(run), "--out", str(tmp_path / "card.md")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "card.md").read_text() == model_card(run)


def test_a_run_whose_data_moved_still_gets_a_card(tmp_path):
    prepared = make_prepared(tmp_path / "prepared", num_clips=12)
    recipe = {
        "data": {"prepared": str(prepared)},
        "model": "cnn",
        "model_options": {"channels": [8], "width_multiplier": 1.0},
        "segment_frames": 16,
        "batch_size": 8,
        "epochs": 1,
        "report": False,
    }
    earmark.train(recipe, tmp_path / "run")
    (prepared / "labels.csv").rename(tmp_path / "elsewhere.csv")
    card = model_card(tmp_path / "run")
    assert "no longer where the run found it" in card
    assert "No validation or test split" in card
