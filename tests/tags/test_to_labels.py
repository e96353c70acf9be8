from __future__ import annotations

import numpy as np
import pytest

from earmark.data.loaders import load_dataset
from earmark.data.table import read_labels, write_labels
from earmark.metrics import group_columns, read_group_map
from earmark.tags import (
    build_vocabulary,
    collapse_tags,
    read_clip_tags,
    tags_to_labels,
    write_groups,
    write_prepare_table,
)


@pytest.fixture
def mapping():
    vocabulary = build_vocabulary(
        [("rock", "genre"), ("hip hop", "genre"), ("happy", "emotion"), ("80s", "number"), ("zzkq", None)]
    )
    tags = ["rock", "Rock", "hiphop", "hip-hop", "happy", "joy", "80s metal", "favorites", "80s"]
    return collapse_tags(tags, vocabulary, method="rules")


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_long_format_with_counts_and_min_count(tmp_path, mapping):
    path = write(
        tmp_path,
        "clips.csv",
        "clip_id,tag,count\n"
        "a,rock,40\na,Rock,30\na,happy,5\n"  # rock 70, happy 5
        "b,hiphop,20\nb,hip-hop,30\nb,unknown tag,50\n"  # hip hop 50
        "c,favorites,100\n"  # nothing mapped
        "d,80s,60\n",
    )
    result = tags_to_labels(read_clip_tags(path), mapping, min_count=50)
    labels = result.labels
    assert labels.class_names == ("rock", "hip hop", "happy", "80s", "zzkq")
    assert labels.clip_ids.tolist() == ["a", "b", "d"]
    assert labels.positive[:, :4].astype(int).tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]
    assert np.array_equal(labels.annotated, labels.positive)  # positives only
    assert set(labels.source.tolist()) == {"noisy"}
    assert result.dropped_clips == ("c",)
    assert result.unknown_tags == {"unknown tag": 1}
    assert result.unmapped_tags == {"favorites": 1}
    assert result.below_min_count == {"happy": 1}


def test_wide_format_and_keep_empty(tmp_path, mapping):
    path = write(tmp_path, "clips.csv", 'clip_id,tags\na,"rock;happy"\nb,favorites\nc,\n')
    result = tags_to_labels(read_clip_tags(path), mapping, keep_empty=True, source="curated")
    assert result.labels.clip_ids.tolist() == ["a", "b", "c"]
    assert result.labels.positive.sum(axis=1).tolist() == [2, 0, 0]
    assert result.labels.annotated.sum() == 2
    assert set(result.labels.source.tolist()) == {"curated"}


def test_the_label_table_and_groups_are_read_by_earmark(tmp_path, mapping):
    path = write(tmp_path, "clips.csv", "clip_id,tag,path\na,rock,a.wav\na,80s,a.wav\nb,happy,b.wav\n")
    result = tags_to_labels(read_clip_tags(path), mapping)
    table = write_labels(result.labels, tmp_path / "labels.csv")
    again = read_labels(table)
    assert again.equals(result.labels)
    groups = read_group_map(write_groups(mapping.categories(), tmp_path / "groups.csv"))
    assert groups == {
        "rock": "genre",
        "hip hop": "genre",
        "happy": "emotion",
        "80s": "number",
        "zzkq": "uncategorized",
    }
    assert set(group_columns(groups, again.class_names)) == {"genre", "emotion", "number", "uncategorized"}
    # and `earmark prepare csv` reads the path,labels table
    prepare_table, classes = write_prepare_table(result, tmp_path / "prepare.csv")
    manifest = load_dataset(
        "csv",
        {
            "table": str(prepare_table),
            "classes": str(classes),
            "separator": ";",
            "annotation": "positives_only",
        },
    )
    assert manifest.labels.class_names == again.class_names
    assert np.array_equal(manifest.labels.positive, again.positive)
    assert np.array_equal(manifest.labels.annotated, again.annotated)


def test_prepare_table_needs_paths(tmp_path, mapping):
    path = write(tmp_path, "clips.csv", "clip_id,tag\na,rock\n")
    result = tags_to_labels(read_clip_tags(path), mapping)
    with pytest.raises(ValueError, match=r"1 clips have no path \(first: 'a'\)"):
        write_prepare_table(result, tmp_path / "prepare.csv")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("clip,tag\na,rock\n", "clip tag table has no column 'clip_id'"),
        ("clip_id,label\na,rock\n", "has no column 'tag or tags'"),
        ("clip_id,tag\n", "the clip tag table has no rows"),
        ("clip_id,tag\n,rock\n", "line 2: empty clip_id"),
        ("clip_id,tag,count\na,rock,many\n", "line 2: count 'many' is not a number"),
        ("clip_id,tag,count\na,rock,-1\n", "line 2: count '-1' must be a finite number ≥ 0"),
        ("clip_id,tag,path\na,rock,x.wav\na,pop,y.wav\n", "line 3: clip 'a' has path 'y.wav' and 'x.wav'"),
    ],
)
def test_bad_clip_tag_tables(tmp_path, content, message):
    with pytest.raises(ValueError, match=message):
        read_clip_tags(write(tmp_path, "clips.csv", content))


def test_bad_options(tmp_path, mapping):
    clips = read_clip_tags(write(tmp_path, "clips.csv", "clip_id,tag\na,rock\n"))
    with pytest.raises(ValueError, match="min_count must be a finite number > 0"):
        tags_to_labels(clips, mapping, min_count=0)
    with pytest.raises(ValueError, match="unknown source 'unlabeled' for tagged clips"):
        tags_to_labels(clips, mapping, source="unlabeled")
    with pytest.raises(ValueError, match="separator must be a non-empty string"):
        read_clip_tags(tmp_path / "clips.csv", separator="")
    empty = collapse_tags(["qqqq"], build_vocabulary(["rock"]), method="rules")
    empty_read = type(empty)(empty.rows)  # as read from a CSV: no vocabulary, no target
    with pytest.raises(ValueError, match="the mapping sends no tag to any target"):
        tags_to_labels(clips, empty_read)
