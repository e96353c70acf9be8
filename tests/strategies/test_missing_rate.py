"""``gamma: auto``: the estimated share of missing positives per class, by hand and in the enhancer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from earmark.config import ConfigError
from earmark.data.labels import Labels
from earmark.features.logmel import LogMelConfig
from earmark.inference import Segmenting
from earmark.spec import TaggingSpec
from earmark.strategies import TrainingContext, build_strategy
from earmark.strategies.components.enhancement import enhancement_counts
from earmark.strategies.components.missing_rate import missing_positive_shares
from earmark.strategies.enhancer import EnhanceConfig

SPEC = TaggingSpec(("a", "b"), LogMelConfig(n_mels=16), segment_frames=16)

# class a has explicit negatives; class b is positives only
SCORES = np.array([[0.8, 0.9], [0.6, 0.2], [0.1, 0.5], [0.4, 0.6], [0.2, 0.1]])
POSITIVE = np.array([[1, 1], [1, 0], [0, 0], [0, 0], [0, 0]], dtype=bool)
ANNOTATED = np.array([[1, 1], [1, 0], [1, 0], [0, 0], [0, 0]], dtype=bool)


def test_both_kinds_of_class_by_hand():
    out = missing_positive_shares(SCORES, POSITIVE, ANNOTATED)
    # a: c = mean(0.8, 0.6) = 0.7; missing clips 3, 4: P = g / c = 0.4/0.7, 0.2/0.7
    # b: c = 0.9; missing clips 1-4: P = (1 − c)/c · g/(1 − g) = (1/9) · odds(g)
    odds = np.array([0.2 / 0.8, 0.5 / 0.5, 0.6 / 0.4, 0.1 / 0.9])
    np.testing.assert_allclose(out["labeled_rate"], [0.7, 0.9])
    np.testing.assert_allclose(out["expected_missing_positives"], [0.6 / 0.7, odds.sum() / 9], rtol=1e-6)
    np.testing.assert_allclose(out["share"], [0.6 / 0.7 / 2, odds.sum() / 9 / 4], rtol=1e-6)
    assert out["positives_only"].tolist() == [False, True]


def test_probabilities_are_clipped_and_a_class_without_positives_gets_none():
    scores = np.array([[0.2, 0.3], [0.9, 0.9]])
    positive = np.array([[1, 0], [0, 0]], dtype=bool)
    annotated = np.array([[1, 1], [0, 0]], dtype=bool)
    out = missing_positive_shares(scores, positive, annotated)
    # a: g / c = 0.9 / 0.2 > 1 → 1; b: no annotated positive → no estimate, nothing masked
    assert out["share"].tolist() == [1.0, 0.0]
    assert np.isnan(out["labeled_rate"][1])
    with pytest.raises(ValueError, match="one \\(clips, classes\\) shape"):
        missing_positive_shares(scores[:1], positive, annotated)


def test_per_class_shares_count_per_class():
    missing = np.ones((10, 2), dtype=bool)
    assert enhancement_counts(missing, np.array([0.26, 0.5])).tolist() == [3, 5]
    with pytest.raises(ValueError, match="2 shares for 3 classes"):
        enhancement_counts(np.ones((4, 3), dtype=bool), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
        enhancement_counts(missing, np.array([0.1, 1.2]))


class _Teacher:
    directory = "runs/b0"
    checkpoint = "runs/b0/checkpoints/best.pt"
    spec = SPEC
    model = torch.nn.Identity()
    segmenting = Segmenting(segment_frames=16, hop_frames=16)


def test_the_enhancer_masks_the_estimated_share_of_each_class(tmp_path):
    labels = Labels(
        clip_ids=np.array([f"c{i}" for i in range(5)], dtype=object),
        class_names=SPEC.class_names,
        positive=POSITIVE,
        annotated=ANNOTATED,
        source=np.array(["curated"] * 5, dtype=object),
        fold=np.ones(5, dtype=np.int64),
        duration_seconds=np.ones(5),
    )
    context = TrainingContext(
        tmp_path, SPEC, True, lambda m, lab, s: SCORES, load_run=lambda d, *, checkpoint="best": _Teacher()
    )
    strategy = build_strategy("label_enhancement", SPEC, {"teacher_run": "runs/b0", "gamma": "auto"})
    enhanced = strategy.prepare_labels(labels, context)
    # a: share 0.43 of 2 missing → 1 masked (clip 3, the higher score); b: share 0.075 of 4 → 0
    assert enhanced.missing.tolist() == [
        [False, False],
        [False, False],
        [False, False],
        [True, False],
        [False, False],
    ]
    summary = json.loads((tmp_path / "enhancement.json").read_text())
    assert summary["masked_per_class"] == {"a": 1, "b": 0}
    assert summary["share"]["a"] == pytest.approx(0.6 / 0.7 / 2, abs=1e-6)
    assert summary["estimate"]["positives_only"] == {"a": False, "b": True}


def test_gamma_auto_is_the_only_word_accepted():
    assert EnhanceConfig(teacher_run="t", gamma="auto").auto
    with pytest.raises(ValueError, match="share per class"):
        _ = EnhanceConfig(teacher_run="t", gamma="auto").share
    with pytest.raises(ConfigError, match="gamma"):
        build_strategy("label_enhancement", SPEC, {"teacher_run": "t", "gamma": "sometimes"})
