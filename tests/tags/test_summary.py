from __future__ import annotations

import pytest

from earmark.tags import collapse_tags, lookup, summarize


@pytest.fixture
def mapping(genre_vocabulary):
    tags = ["rock", "rocking", "80s metal", "rcok", "qqqq", "", "<script>x</script> | rock", "sexy"]
    return collapse_tags(tags, genre_vocabulary, method="rules", overrides={"sexy": "happy"})


def test_counts(mapping):
    summary = summarize(mapping)
    assert summary.num_tags == 8
    assert summary.num_mapped == 6
    assert summary.per_target["rock"] == {"rules": 4}
    assert summary.per_target["happy"] == {"override": 1}
    assert summary.per_target["pop"] == {}  # every target is listed
    assert summary.per_stage == {"override": 1, "rules": 5, "none": 2}
    assert summary.per_rule["rules/exact"] == 1
    assert summary.per_rule["none/problem"] == 1
    assert summary.per_target_category == {"genre": 5, "emotion": 1}
    assert summary.problems == {"empty": 1, "markup": 1}
    assert summary.per_tag_category["junk"] == {"mapped": 0, "unmapped": 2}


def test_markdown_escapes_markup(mapping):
    text = summarize(mapping).to_markdown()
    assert text.startswith("# Tag mapping summary")
    assert "6 of 8 tags collapse onto 12 targets." in text
    assert "| rock | 0 | 4 | 0 | 4 |" in text
    assert "<script>" not in text


def test_lookup(mapping):
    rows = lookup(mapping, "rock")
    assert [r.tag for r in rows][:2] == ["rock", "rocking"]  # best score first, then mapping order
    assert rows[-1].tag == "rcok"  # a Jaro-Winkler score below 1
    assert [r.tag for r in lookup(mapping, "happy", stage="override")] == ["sexy"]
    assert lookup(mapping, "happy", stage="rules") == []
    assert lookup(mapping, "pop") == []  # a target nothing went into
    assert [
        r.tag for r in lookup(mapping, "Singer Songwriter")
    ] == []  # any spelling that normalises the same


def test_lookup_errors(mapping):
    with pytest.raises(ValueError, match=r"'rokc' is not a target of this mapping .*did you mean 'rock'"):
        lookup(mapping, "rokc")
    with pytest.raises(ValueError, match="unknown stage 'none'"):
        lookup(mapping, "rock", stage="none")
