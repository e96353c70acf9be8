from __future__ import annotations

import pytest

from earmark.tags import categorize_tags, read_overrides, read_tag_list, read_vocabulary, write_categories


def test_plain_text_tag_list_keeps_blank_lines_and_cuts_at_tabs(tmp_path):
    path = tmp_path / "tags.txt"
    path.write_text("rock\n\nhip hop\trap\n<b>sad</b>\nrock\n", encoding="utf-8")
    assert read_tag_list(path) == ["rock", "", "hip hop", "<b>sad</b>", "rock"]


def test_csv_tag_list(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text('tag,count\nrock,3\n"rock, metal",1\nロック,2\n', encoding="utf-8")
    assert read_tag_list(path) == ["rock", "rock, metal", "ロック"]


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("tags.txt", "", ValueError, "the tag list has no tags"),
        ("tags.csv", "", ValueError, "tag list is empty"),
        ("tags.csv", "name\nrock\n", ValueError, "tag list has no column 'tag'"),
        ("tags.csv", "tag\nrock,extra\n", ValueError, "line 2: 2 cells, the header has 1"),
    ],
)
def test_bad_tag_lists(tmp_path, name, content, error, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(error, match=message):
        read_tag_list(path)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="tag list not found"):
        read_tag_list(tmp_path / "nope.txt")
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="tag list is not UTF-8 text"):
        read_tag_list(path)


def test_vocabulary_files(tmp_path):
    csv_path = tmp_path / "targets.csv"
    csv_path.write_text("tag,category\nrock,genre\nhappy,\n", encoding="utf-8")
    assert read_vocabulary(csv_path) == [("rock", "genre"), ("happy", None)]
    target_path = tmp_path / "targets2.csv"
    target_path.write_text("target\nrock\n", encoding="utf-8")
    assert read_vocabulary(target_path) == [("rock", None)]
    text_path = tmp_path / "targets.txt"
    text_path.write_text("# my targets\nrock\tgenre\n\nhappy\n", encoding="utf-8")
    assert read_vocabulary(text_path) == [("rock", "genre"), ("happy", None)]


def test_bad_vocabularies(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text("name,category\nrock,genre\n", encoding="utf-8")
    with pytest.raises(ValueError, match="vocabulary has no column 'tag or target'"):
        read_vocabulary(path)
    empty = tmp_path / "targets.txt"
    empty.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="the vocabulary lists no target"):
        read_vocabulary(empty)


def test_overrides(tmp_path):
    path = tmp_path / "overrides.csv"
    path.write_text("tag,target\nrocket,\nhiphop,hip hop\nhiphop,hip hop\n", encoding="utf-8")
    assert read_overrides(path) == {"rocket": None, "hiphop": "hip hop"}
    path.write_text("tag,target\nhiphop,hip hop\nhiphop,rap\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match="line 3: tag 'hiphop' is overridden to 'rap' here and to 'hip hop' on line 2"
    ):
        read_overrides(path)
    path.write_text("tag,target\n ,rock\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: empty tag"):
        read_overrides(path)
    path.write_text("tag\nrock\n", encoding="utf-8")
    with pytest.raises(ValueError, match="overrides file has no column 'target'"):
        read_overrides(path)


def test_write_categories(tmp_path):
    path = write_categories(categorize_tags(["rock", "", "rcok"]), tmp_path / "out" / "categories.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "tag,normalized,category,rule,matched,score,problems"
    assert lines[1] == "rock,rock,genre,exact,rock,1.0000,"
    assert lines[2] == ",,junk,problem,empty,1.0000,empty"
    assert lines[3].startswith("rcok,rcok,genre,typo,rock,0.92")
