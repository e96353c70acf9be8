"""``pseudo_label``: the teacher's targets on missing entries, by hand; sharpening, thresholds, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from strategy_helpers import SPEC, FixedLogits, labeled_batch

from earmark.config import ConfigError
from earmark.data.labels import Labels
from earmark.inference import Segmenting
from earmark.spec import SpecMismatchError, TaggingSpec
from earmark.strategies import TrainingContext, build_strategy
from earmark.strategies.pseudo_label import pseudo_targets

# the teacher's probabilities of clips c0, c1 (classes a, b, c, d)
SCORES = np.array([[0.9, 0.8, 0.2, 0.1], [0.3, 0.6, 0.7, 0.05]])


class _Teacher:
    def __init__(self, spec: TaggingSpec) -> None:
        self.directory = Path("runs/t")
        self.checkpoint = Path("runs/t/checkpoints/best.pt")
        self.spec = spec
        self.model = torch.nn.Identity()
        self.segmenting = Segmenting(segment_frames=16, hop_frames=8)


def _labels() -> Labels:
    positive = np.array([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    annotated = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)
    return Labels(
        clip_ids=np.array(["c0", "c1"], dtype=object),
        class_names=SPEC.class_names,
        positive=positive,
        annotated=annotated,
        source=np.array(["curated", "unlabeled"], dtype=object),
        fold=np.ones(2, dtype=np.int64),
        duration_seconds=np.ones(2),
    )


def _prepared(tmp_path: Path, options: dict, spec: TaggingSpec = SPEC, is_main: bool = True):
    teacher = _Teacher(spec)

    def score(model, labels, segmenting):
        assert segmenting is teacher.segmenting
        return SCORES[: labels.num_clips]

    context = TrainingContext(
        tmp_path, SPEC, is_main, score, load_run=lambda d, *, checkpoint="best": teacher
    )
    strategy = build_strategy("pseudo_label", SPEC, {"teacher_run": "runs/t", **options})
    strategy.prepare_labels(_labels(), context)
    return strategy


def _batch():
    return labeled_batch([[1, 0, 0, 0], [0, 0, 0, 0]], [[1, 1, 0, 0], [0, 0, 0, 0]], labeled=[True, False])


LOGITS = torch.tensor([[2.0, -1.0, 0.5, -2.0], [0.0, 1.0, -0.5, 0.3]])


def bce(z: float, t: float) -> float:
    p = 1.0 / (1.0 + math.exp(-z))
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def test_a_batch_by_hand(tmp_path):
    """c0: a = 1 and b = 0 annotated, c and d take 0.2 and 0.1; c1 (unlabeled) takes all four."""
    strategy = _prepared(tmp_path, {"weight": 0.5})
    loss = strategy.losses(_batch(), FixedLogits(LOGITS), None, 0, torch.Generator())["bce"]
    annotated = bce(2.0, 1.0) + bce(-1.0, 0.0)
    unlabeled = zip([0.0, 1.0, -0.5, 0.3], SCORES[1], strict=True)
    pseudo = bce(0.5, 0.2) + bce(-2.0, 0.1) + sum(bce(z, t) for z, t in unlabeled)
    assert float(loss.detach()) == pytest.approx((annotated + 0.5 * pseudo) / (2 + 0.5 * 6), abs=1e-6)
    summary = json.loads((tmp_path / "pseudo_labels.json").read_text())
    assert summary["missing_per_class"] == {"a": 1, "b": 1, "c": 2, "d": 2}
    assert summary["mean_target_per_class"]["c"] == pytest.approx(0.45)


def test_without_unlabeled_clips_only_the_labeled_rows_count(tmp_path):
    strategy = _prepared(tmp_path, {"unlabeled": False}, is_main=False)
    loss = strategy.losses(_batch(), FixedLogits(LOGITS), None, 0, torch.Generator())["bce"]
    expected = (bce(2.0, 1.0) + bce(-1.0, 0.0) + bce(0.5, 0.2) + bce(-2.0, 0.1)) / 4
    assert float(loss.detach()) == pytest.approx(expected, abs=1e-6)
    assert not (tmp_path / "pseudo_labels.json").exists()


def test_threshold_and_temperature(tmp_path):
    np.testing.assert_allclose(pseudo_targets(SCORES, threshold=0.5)[0], [1, 1, 0, 0])
    sharp = pseudo_targets(SCORES, temperature=0.5)
    # σ(logit(0.9) / 0.5) = 0.9² / (0.9² + 0.1²)
    assert sharp[0, 0] == pytest.approx(0.81 / 0.82, abs=1e-6)
    soft = pseudo_targets(SCORES, temperature=2.0)
    assert 0.5 < soft[0, 0] < 0.9
    np.testing.assert_allclose(pseudo_targets(SCORES), SCORES.astype(np.float32))
    strategy = _prepared(tmp_path, {"threshold": 0.5, "unlabeled": False})
    loss = strategy.losses(_batch(), FixedLogits(LOGITS), None, 0, torch.Generator())["bce"]
    expected = (bce(2.0, 1.0) + bce(-1.0, 0.0) + bce(0.5, 0.0) + bce(-2.0, 0.0)) / 4
    assert float(loss.detach()) == pytest.approx(expected, abs=1e-6)


def test_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(ConfigError, match="pseudo_label needs teacher_run"):
        build_strategy("pseudo_label", SPEC, {})
    with pytest.raises(ConfigError, match="threshold or a temperature"):
        build_strategy("pseudo_label", SPEC, {"teacher_run": "t", "threshold": 0.5, "temperature": 0.5})
    with pytest.raises(ConfigError, match=r"strategy\.pseudo_label\.threshold"):
        build_strategy("pseudo_label", SPEC, {"teacher_run": "t", "threshold": 1.0})
    with pytest.raises(ValueError, match="prepare_labels must run first"):
        build_strategy("pseudo_label", SPEC, {"teacher_run": "t"}).losses(
            _batch(), FixedLogits(LOGITS), None, 0, torch.Generator()
        )
    with pytest.raises(ValueError, match="probabilities in"):
        pseudo_targets(np.array([[1.5]]))
    other = TaggingSpec(("a", "b", "c", "x"), SPEC.frontend, segment_frames=16)
    with pytest.raises(SpecMismatchError, match="teacher run runs/t"):
        _prepared(tmp_path, {}, spec=other)
    strategy = _prepared(tmp_path, {})
    stranger = labeled_batch([[0, 0, 0, 0]], [[0, 0, 0, 0]], labeled=[True])
    stranger = stranger.__class__(**{**stranger.__dict__, "clip_ids": ("zz",)})
    with pytest.raises(ValueError, match="clip 'zz' was not among the training clips"):
        strategy.losses(stranger, FixedLogits(LOGITS[:1]), None, 0, torch.Generator())
