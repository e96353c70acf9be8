"""``suspects``: an audit table's items scale the loss of their entries (by hand), errors name the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from strategy_helpers import SPEC, FixedLogits, labeled_batch

from earmark.audit.table import AuditItem, write_audit
from earmark.config import ConfigError
from earmark.data.labels import LabelError, Labels
from earmark.strategies import TrainingContext, build_strategy, masked_bce
from earmark.strategies.suspects import suspect_multipliers


def _labels() -> Labels:
    positive = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0]], dtype=bool)
    return Labels(
        clip_ids=np.array(["c0", "c1", "c2"], dtype=object),
        class_names=SPEC.class_names,
        positive=positive,
        annotated=np.ones_like(positive),
        source=np.array(["noisy"] * 3, dtype=object),
        fold=np.ones(3, dtype=np.int64),
        duration_seconds=np.ones(3),
    )


def _table(path: Path, items: list[AuditItem]) -> str:
    write_audit(items, path)
    return str(path)


def _context(run_dir: Path, is_main: bool = True) -> TrainingContext:
    def unused(*args, **kwargs):
        raise AssertionError("suspects need no teacher")

    return TrainingContext(run_dir, SPEC, is_main, unused, load_run=unused)


ITEMS = [
    AuditItem("c1", "b", "remove", 0.9),
    AuditItem("c2", "", "blacklist", 0.8),
    AuditItem("c1", "", "blacklist", 0.7),  # c1's b is named twice: scaled once
    AuditItem("gone", "a", "remove", 0.6),  # not a training clip (now validation): skipped
]


def test_the_multipliers_of_remove_and_blacklist_items(tmp_path):
    multipliers, counts = suspect_multipliers(_labels(), _table(tmp_path / "t.csv", ITEMS), factor=0.3)
    assert sorted(multipliers) == ["c1", "c2"]
    np.testing.assert_allclose(multipliers["c1"], [0.3, 0.3, 0.3, 0.3])
    np.testing.assert_allclose(multipliers["c2"], [0.3, 0.3, 0.3, 0.3])
    assert counts == {"items": 4, "skipped_items": 1, "clips": 2, "entries": 8}
    top, counts = suspect_multipliers(_labels(), tmp_path / "t.csv", factor=0.3, top=1)
    np.testing.assert_allclose(top["c1"], [1.0, 0.3, 1.0, 1.0])
    assert list(top) == ["c1"]
    assert counts["entries"] == 1


def test_a_down_weighted_entry_by_hand(tmp_path):
    """c0 is clean, c1's class b is suspected: its BCE counts 0.25 in the numerator and denominator."""
    table = _table(tmp_path / "t.csv", [AuditItem("c1", "b", "remove", 0.9)])
    strategy = build_strategy("supervised", SPEC, {"suspects": {"table": table, "factor": 0.25}})
    strategy.prepare_labels(_labels(), _context(tmp_path))
    batch = labeled_batch([[1, 0, 0, 0], [1, 1, 0, 0]], [[1, 1, 1, 1], [1, 1, 1, 1]], labeled=[True, True])
    logits = torch.tensor([[2.0, -1.0, 0.0, -3.0], [1.0, -2.0, 0.5, 0.0]])
    loss = strategy.losses(batch, FixedLogits(logits), None, 0, torch.Generator())["bce"]
    per_entry = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.positive, reduction="none")
    by_hand = (per_entry.sum() - 0.75 * per_entry[1, 1]) / 7.25
    torch.testing.assert_close(loss, by_hand)
    plain = masked_bce(logits, batch.positive, torch.ones(2, 4))
    assert float(loss.detach()) < float(plain)  # the suspected entry (a positive at logit −2) costs most
    summary = json.loads((tmp_path / "suspects.json").read_text())
    assert summary["factor"] == 0.25
    assert summary["entries"] == 1


def test_factor_zero_is_the_blacklist(tmp_path):
    table = _table(tmp_path / "t.csv", [AuditItem("c1", "", "blacklist", 0.9)])
    strategy = build_strategy("generalized_ce", SPEC, {"suspects": {"table": table, "factor": 0.0}})
    strategy.prepare_labels(_labels(), _context(tmp_path, is_main=False))
    assert not (tmp_path / "suspects.json").exists()
    batch = labeled_batch([[1, 0, 0, 0], [1, 1, 0, 0]], [[1, 1, 1, 1], [1, 1, 1, 1]], labeled=[True, True])
    logits = torch.tensor([[2.0, -1.0, 0.0, -3.0], [1.0, -2.0, 0.5, 0.0]])
    alone = labeled_batch([[1, 0, 0, 0]], [[1, 1, 1, 1]], labeled=[True])
    both = strategy.losses(batch, FixedLogits(logits), None, 0, torch.Generator())["lq"]
    first = strategy.losses(alone, FixedLogits(logits[:1]), None, 0, torch.Generator())["lq"]
    torch.testing.assert_close(both, first)


def test_bad_tables_raise_naming_the_file(tmp_path):
    unknown = _table(tmp_path / "unknown.csv", [AuditItem("c1", "zebra", "remove", 0.9)])
    with pytest.raises(LabelError, match=r"unknown\.csv, line 2: class 'zebra'"):
        suspect_multipliers(_labels(), unknown, factor=0.5)
    elsewhere = _table(tmp_path / "elsewhere.csv", [AuditItem("x9", "a", "remove", 0.9)])
    with pytest.raises(LabelError, match=r"elsewhere\.csv: none of its 1 items is about a training clip"):
        suspect_multipliers(_labels(), elsewhere, factor=0.5)
    with pytest.raises(FileNotFoundError, match="audit file not found"):
        suspect_multipliers(_labels(), tmp_path / "absent.csv", factor=0.5)
    with pytest.raises(ConfigError, match="suspects needs table"):
        build_strategy("supervised", SPEC, {"suspects": {"factor": 0.5}})
    with pytest.raises(ConfigError, match=r"suspects\.factor"):
        build_strategy("supervised", SPEC, {"suspects": {"table": unknown, "factor": 2.0}})


def test_losses_before_the_table_is_read_raise(tmp_path):
    table = _table(tmp_path / "t.csv", ITEMS)
    strategy = build_strategy("asymmetric", SPEC, {"suspects": {"table": table}})
    batch = labeled_batch([[1, 0, 0, 0]], [[1, 1, 1, 1]], labeled=[True])
    with pytest.raises(ValueError, match="prepare_labels must run before"):
        strategy.losses(batch, FixedLogits(torch.zeros(1, 4)), None, 0, torch.Generator())
