from __future__ import annotations

import numpy as np
import pytest

from earmark.data.labels import Labels
from earmark.ensemble import average_predictions, paired_predictions
from earmark.predictions import Predictions, PredictionsError

CLASSES = ("cat", "dog")


def predictions(clips: list[str], scores: list[list[float]], frontend_hash: str = "h") -> Predictions:
    return Predictions(np.array(clips), CLASSES, np.array(scores, dtype=np.float32), frontend_hash)


def labels(clips: list[str]) -> Labels:
    return Labels.from_lists(clips, [["cat"]] * len(clips), CLASSES)


def test_average_aligns_clips_by_id_and_keeps_the_first_order():
    a = predictions(["x", "y", "z"], [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    b = predictions(["z", "x", "y"], [[0.7, 0.8], [0.3, 0.0], [0.5, 0.2]])
    mean = average_predictions([a, b])
    assert mean.clip_ids.tolist() == ["x", "y", "z"]
    np.testing.assert_allclose(mean.scores, [[0.2, 0.1], [0.4, 0.3], [0.6, 0.7]], rtol=1e-6)
    assert mean.scores.dtype == np.float32
    assert mean.frontend_hash == "h"


def test_average_of_three_and_mixed_front_ends():
    sets = [
        predictions(["x"], [[v, 1 - v]], frontend_hash=h) for v, h in ((0.0, "a"), (0.3, "a"), (0.9, "b"))
    ]
    mean = average_predictions(sets)
    np.testing.assert_allclose(mean.scores, [[0.4, 0.6]], rtol=1e-6)
    assert mean.frontend_hash == ""


def test_average_refuses_mismatched_sets():
    a = predictions(["x", "y"], [[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(PredictionsError, match="at least two prediction sets, got 1"):
        average_predictions([a])
    with pytest.raises(PredictionsError, match=r"b\.npz scores other clips than a\.npz"):
        average_predictions([a, predictions(["x"], [[0.1, 0.2]])], names=["a.npz", "b.npz"])
    with pytest.raises(PredictionsError, match="set 2 scores other clips than set 1"):
        average_predictions([a, predictions(["x", "w"], [[0.1, 0.2], [0.1, 0.2]])])
    swapped = Predictions(a.clip_ids, ("dog", "cat"), a.scores)
    with pytest.raises(PredictionsError, match="set 2 has other classes than set 1"):
        average_predictions([a, swapped])
    with pytest.raises(PredictionsError, match="1 names for 2 prediction sets"):
        average_predictions([a, a], names=["only"])


def test_paired_predictions_share_the_labels_order():
    table = labels(["x", "y", "z"])
    a = predictions(["z", "x"], [[0.9, 0.1], [0.2, 0.8]])
    b = predictions(["x", "z"], [[0.3, 0.7], [0.6, 0.4]])
    first, second, paired = paired_predictions(a, b, table)
    assert paired.clip_ids.tolist() == ["x", "z"]
    assert first.clip_ids.tolist() == second.clip_ids.tolist() == ["x", "z"]
    np.testing.assert_allclose(first.scores, [[0.2, 0.8], [0.9, 0.1]])
    np.testing.assert_allclose(second.scores, [[0.3, 0.7], [0.6, 0.4]])


def test_paired_predictions_refuse_other_clips():
    table = labels(["x", "y", "z"])
    a = predictions(["x", "y"], [[0.1, 0.2], [0.3, 0.4]])
    b = predictions(["x", "z"], [[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(PredictionsError, match=r"1 only in A, e\.g\. \['y'\]; 1 only in B, e\.g\. \['z'\]"):
        paired_predictions(a, b, table)
