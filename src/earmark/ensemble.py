"""Combining and pairing prediction sets: the ``ensemble`` average and ``compare``'s clip pairing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from earmark.data.labels import Labels
from earmark.predictions import Predictions, PredictionsError

__all__ = ["average_predictions", "paired_predictions"]


def average_predictions(
    predictions: Sequence[Predictions], *, names: Sequence[str] | None = None
) -> Predictions:
    """The mean score of several prediction sets of the same clips and classes.

    Parameters
    ----------
    predictions
        At least two sets; their clips may come in any order, their classes may not.
    names
        What to call each set in errors (e.g. its file); ``set 1``, ``set 2``, ... by default.

    Returns
    -------
    Predictions
        In the first set's clip order; float32 mean scores; the front-end hash when every set
        has the same one, else ``""``.

    Raises
    ------
    PredictionsError
        For fewer than two sets, or a set with other classes or other clips than the first.

    Examples
    --------
    >>> a = Predictions(np.array(["x", "y"]), ("cat",), np.array([[0.2], [0.4]], dtype=np.float32))
    >>> b = Predictions(np.array(["y", "x"]), ("cat",), np.array([[0.8], [0.6]], dtype=np.float32))
    >>> average_predictions([a, b]).scores.ravel().tolist()
    [0.4000000059604645, 0.6000000238418579]

    """
    if len(predictions) < 2:
        raise PredictionsError(f"an ensemble needs at least two prediction sets, got {len(predictions)}")
    labels = list(names) if names is not None else [f"set {i}" for i in range(1, len(predictions) + 1)]
    if len(labels) != len(predictions):
        raise PredictionsError(f"{len(labels)} names for {len(predictions)} prediction sets")
    first = predictions[0]
    order = {clip: row for row, clip in enumerate(first.clip_ids.tolist())}
    stacked = []
    for name, other in zip(labels, predictions, strict=True):
        if other.class_names != first.class_names:
            raise PredictionsError(f"{name} has other classes than {labels[0]}")
        if other.num_clips != first.num_clips or any(clip not in order for clip in other.clip_ids.tolist()):
            raise PredictionsError(f"{name} scores other clips than {labels[0]}")
        rows = np.argsort([order[clip] for clip in other.clip_ids.tolist()])
        stacked.append(other.scores[rows])
    hashes = {p.frontend_hash for p in predictions}
    mean = np.mean(stacked, axis=0).astype(np.float32)
    return Predictions(first.clip_ids, first.class_names, mean, hashes.pop() if len(hashes) == 1 else "")


def paired_predictions(
    first: Predictions, second: Predictions, labels: Labels
) -> tuple[Predictions, Predictions, Labels]:
    """Two prediction sets aligned to ``labels`` on the same clips, for a paired comparison.

    Returns
    -------
    first, second, labels
        All three in the labels' clip and class order, restricted to the predicted clips.

    Raises
    ------
    PredictionsError
        When a set does not match the labels (see :meth:`Predictions.align`) or the two sets
        predict different clips (naming how many are only in each and a few of them).

    """
    first, labels_first = first.align(labels)
    second, labels_second = second.align(labels)
    if not np.array_equal(labels_first.clip_ids, labels_second.clip_ids):
        clips_first, clips_second = set(labels_first.clip_ids.tolist()), set(labels_second.clip_ids.tolist())
        only_first, only_second = sorted(clips_first - clips_second), sorted(clips_second - clips_first)
        raise PredictionsError(
            f"the runs predict different clips ({len(only_first)} only in A, e.g. {only_first[:3]}; "
            f"{len(only_second)} only in B, e.g. {only_second[:3]}); a paired comparison needs the same clips"
        )
    return first, second, labels_first
