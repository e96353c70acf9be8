"""Folds stratified by class with groups kept together."""

from __future__ import annotations

import numpy as np
import pytest

from earmark.data.folds import assign_folds


def test_assign_folds_stratifies_and_keeps_groups_together():
    positive = np.zeros((12, 2), dtype=bool)
    positive[:6, 0] = True
    positive[6:, 1] = True
    folds = assign_folds(positive, folds=3, seed=0)
    assert sorted(folds.tolist()) == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
    for k in (1, 2, 3):
        assert set(positive[folds == k].argmax(1).tolist()) == {0, 1}  # both classes in every fold
    assert np.array_equal(folds, assign_folds(positive, folds=3, seed=0))
    assert not np.array_equal(folds, assign_folds(positive, folds=3, seed=1))
    groups = np.array(["a", "a", "b", "b", "c", "c", "d", "d", "e", "e", "f", "f"])
    grouped = assign_folds(positive, folds=3, seed=0, groups=groups)
    for key in set(groups):
        assert len(set(grouped[groups == key])) == 1
    with pytest.raises(ValueError, match="at least 2 folds"):
        assign_folds(positive, folds=1, seed=0)
    with pytest.raises(ValueError, match=r"2 clips \(or groups\) cannot fill 3 folds"):
        assign_folds(positive[:2], folds=3, seed=0)
    with pytest.raises(ValueError, match="3 group keys for 12 clips"):
        assign_folds(positive, folds=3, seed=0, groups=["a", "b", "c"])


def test_unlabeled_clips_are_dealt_too():
    positive = np.zeros((6, 2), dtype=bool)
    positive[:2, 0] = True
    folds = assign_folds(positive, folds=2, seed=3)
    assert sorted(folds.tolist()) == [1, 1, 1, 2, 2, 2]
    assert set(folds[:2].tolist()) == {1, 2}  # the class's two clips go to different folds
