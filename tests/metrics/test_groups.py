from __future__ import annotations

import pytest

from earmark.metrics import (
    UNGROUPED,
    average_precision_micro,
    average_precision_per_class,
    group_columns,
    group_means,
    lwlrap,
    metric_by_group,
    read_group_map,
)

NAMES = ["rock", "jazz", "happy", "sad", "guitar"]
GROUPS = {"rock": "genre", "jazz": "genre", "happy": "emotion", "sad": "emotion"}


def test_group_columns_put_unnamed_classes_in_ungrouped():
    columns = group_columns({**GROUPS, "guitar": ["instrument", "genre"]}, NAMES)
    assert {k: v.tolist() for k, v in columns.items()} == {
        "genre": [0, 1, 4],
        "emotion": [2, 3],
        "instrument": [4],
    }
    assert group_columns(GROUPS, NAMES)[UNGROUPED].tolist() == [4]


def test_unknown_class_in_the_map_raises():
    with pytest.raises(ValueError, match="names class 'metal', which is not among the 5 classes"):
        group_columns({"metal": "genre"}, NAMES)


def test_group_means_average_scored_classes_and_report_exclusions(rng):
    y = rng.random((30, 5)) < 0.4
    y[:, 3] = False  # "sad" has no positives
    scores = rng.random((30, 5))
    ap = average_precision_per_class(y, scores, class_names=NAMES)
    groups = group_means(ap, GROUPS)
    assert groups["genre"].value == pytest.approx(ap.values[:2].mean())
    assert groups["emotion"].value == pytest.approx(ap.values[2])
    assert groups["emotion"].num_scored == 1
    assert groups["emotion"].excluded == {"sad": "no positives"}
    assert groups[UNGROUPED].value == pytest.approx(ap.values[4])


def test_metric_by_group_computes_on_the_group_columns_alone(rng):
    y = rng.random((30, 5)) < 0.4
    y[:, 2:4] = False  # the emotion group holds no positive at all
    scores = rng.random((30, 5))
    values = metric_by_group(lwlrap, y, scores, class_to_group=GROUPS, class_names=NAMES)
    assert values["genre"] == pytest.approx(lwlrap(y[:, :2], scores[:, :2]))
    assert values["emotion"] is None
    micro = metric_by_group(average_precision_micro, y, scores, class_to_group=GROUPS, class_names=NAMES)
    assert micro[UNGROUPED] == pytest.approx(average_precision_micro(y[:, 4:], scores[:, 4:]))
    with pytest.raises(ValueError, match="4 class names for 5 columns"):
        metric_by_group(lwlrap, y, scores, class_to_group=GROUPS, class_names=NAMES[:4])


def test_group_map_files(tmp_path):
    (tmp_path / "g.yaml").write_text("dog: animal\nrain: [weather, nature]\n")
    assert read_group_map(tmp_path / "g.yaml") == {"dog": "animal", "rain": ["weather", "nature"]}
    (tmp_path / "g.json").write_text('{"dog": 3}')
    with pytest.raises(ValueError, match="class 'dog' maps to 3"):
        read_group_map(tmp_path / "g.json")
    (tmp_path / "g.csv").write_text("name,group\n")
    with pytest.raises(ValueError, match="needs the columns 'class' and 'group'"):
        read_group_map(tmp_path / "g.csv")
