"""``Labels.evaluation_mask``: the one rule of which entries evaluation counts."""

from __future__ import annotations

import numpy as np
import pytest

from earmark.data.labels import LabelError, Labels

CLASSES = ("dog", "rain", "siren")


def labels_with(annotated: np.ndarray, positive: np.ndarray) -> Labels:
    n = positive.shape[0]
    return Labels(
        clip_ids=np.array([f"c{i}" for i in range(n)], dtype=object),
        class_names=CLASSES,
        positive=positive,
        annotated=annotated,
        source=np.array(["curated"] * n, dtype=object),
        fold=np.full(n, -1),
        duration_seconds=np.full(n, np.nan),
    )


@pytest.fixture
def positive(rng) -> np.ndarray:
    positive = rng.random((12, 3)) < 0.4
    positive[0] = [True, False, False]
    return positive


def test_complete_labels_count_every_entry(positive):
    complete = labels_with(np.ones_like(positive), positive)
    assert complete.evaluation_mask() is None
    assert complete.evaluation_mask("off") is None
    assert complete.evaluation_mask("on").all()


def test_positives_only_labels_count_missing_entries_as_negatives(positive):
    positives_only = labels_with(positive.copy(), positive)
    assert positives_only.positives_only
    assert positives_only.evaluation_mask() is None
    assert np.array_equal(positives_only.evaluation_mask("on"), positive)


def test_partly_annotated_labels_count_annotated_entries_only(positive):
    annotated = np.ones_like(positive)
    annotated[0, 1] = False  # one negative of clip 0 is missing; clip 0 keeps a negative
    partial = labels_with(annotated, positive)
    assert not partial.positives_only
    assert np.array_equal(partial.evaluation_mask(), annotated)
    assert np.array_equal(partial.evaluation_mask("on"), annotated)
    assert partial.evaluation_mask("off") is None


def test_from_lists_with_some_negatives_is_partly_annotated():
    labels = Labels.from_lists(
        ["a", "b"], [["dog"], ["rain"]], CLASSES, negatives=[["rain"], []], annotation="positives_only"
    )
    assert labels.evaluation_mask().tolist() == [[True, True, False], [False, True, False]]


def test_an_unknown_mode_raises(positive):
    labels = labels_with(np.ones_like(positive), positive)
    with pytest.raises(LabelError, match=r"unknown mask mode 'yes'; valid modes: auto, on, off"):
        labels.evaluation_mask("yes")
