"""The tags tools on the real last.fm tags and the thesis's mappings (../shared/data/lastfm_tags)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from earmark.tags import (
    build_vocabulary,
    categorize_tags,
    collapse_tags,
    normalize_tags,
    read_tag_list,
    read_vocabulary,
)
from earmark.testing import require_data

pytestmark = pytest.mark.realdata


def thesis_mapping(path: Path) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        tag, _, target = line.partition("\t")
        mapping.setdefault(tag, target)
    return mapping


@pytest.fixture(scope="module")
def lastfm() -> Path:
    return require_data("lastfm_tags")


def test_the_thesis_targets(lastfm):
    vocabulary = build_vocabulary(read_vocabulary(lastfm / "targets.csv"))
    assert len(vocabulary.targets) == 50
    assert vocabulary.warnings == ()
    assert Counter(vocabulary.categories().values()) == {
        "genre": 18,
        "emotion": 18,
        "descriptive": 9,
        "number": 5,
    }


@pytest.mark.slow
def test_categories_of_the_real_tags(lastfm):
    tags = read_tag_list(lastfm / "word_embedding_encoding.txt")  # tag<TAB>target lines: the tags
    assert len(tags) == 58_706
    categories = Counter(c.category for c in categorize_tags(normalize_tags(tags)))
    assert categories["junk"] / len(tags) < 0.2  # the thesis put 80 % of its tags in a category
    assert min(categories[c] for c in ("genre", "emotion", "descriptive", "number")) > 500


@pytest.mark.slow
def test_rules_on_the_real_tags_against_the_thesis_stage_ii(lastfm):
    vocabulary = build_vocabulary(read_vocabulary(lastfm / "targets.csv"))
    thesis = thesis_mapping(lastfm / "sensible_tags_encoding.txt")
    mapping = collapse_tags(list(thesis), vocabulary, method="rules")
    ours = {row.tag: row.target for row in mapping.rows}
    both = [tag for tag in thesis if ours[tag]]
    same = sum(ours[tag] == thesis[tag] for tag in both)
    assert len(both) / len(thesis) > 0.8  # we leave unmapped what only a substring search finds
    assert same / len(both) > 0.9  # and agree on most of what both map
    # the thesis's own examples, and its substring defects
    assert ours["80s metal"] == "metal"
    assert ours["alternative rock"] == "alternative rock"
    assert ours["alternativerock"] == "alternative rock"  # the thesis: rock
    for tag in ("rocket in my pants", "lollipop", "goodbye", "hotel california"):
        assert ours[tag] == "", tag  # the thesis: rock, pop, good, hot
