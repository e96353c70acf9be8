from __future__ import annotations

import pytest

from earmark.tags import UNCATEGORIZED, build_vocabulary


def test_names_categories_and_lookups():
    vocabulary = build_vocabulary([("singer-songwriter", "genre"), ("happy", "emotion"), "80s"])
    assert vocabulary.names == ("singer-songwriter", "happy", "80s")
    assert vocabulary.categories() == {"singer-songwriter": "genre", "happy": "emotion", "80s": "number"}
    assert vocabulary.find("singer songwriter").name == "singer-songwriter"
    assert vocabulary.find("Singer-Songwriter").name == "singer-songwriter"
    assert vocabulary.find("jazz") is None
    assert vocabulary.warnings == ("target '80s' had no category; the word lists say 'number'",)


def test_duplicates_in_the_vocabulary_are_dropped_and_reported():
    vocabulary = build_vocabulary(
        [
            ("singer-songwriter", "genre"),
            ("singer songwriter", "genre"),
            ("rock", "genre"),
            ("Rock", "genre"),
            ("hiphop", "genre"),
            ("hip hop", "genre"),
        ]
    )
    assert vocabulary.names == ("singer-songwriter", "rock", "hiphop")
    assert len(vocabulary.warnings) == 3
    assert "'singer songwriter' duplicates 'singer-songwriter'" in vocabulary.warnings[0]


def test_a_target_in_no_category_is_grouped_uncategorized():
    vocabulary = build_vocabulary([("rock", "genre"), ("qwertyuiop", None), ("", "genre"), ("!!!", None)])
    assert vocabulary.categories() == {"rock": "genre", "qwertyuiop": UNCATEGORIZED}
    assert any("'qwertyuiop' is in no category" in w for w in vocabulary.warnings)
    assert any("target '' is unusable (empty)" in w for w in vocabulary.warnings)
    assert any("target '!!!' is unusable (no_letters)" in w for w in vocabulary.warnings)


def test_unknown_categories_can_be_refused():
    vocabulary = build_vocabulary([("rock", "genr")], categories=("genre", "emotion"))
    assert vocabulary.categories() == {"rock": "genre"}
    assert "unknown category 'genr'" in vocabulary.warnings[0]


def test_an_empty_vocabulary_raises():
    with pytest.raises(ValueError, match="the vocabulary has no usable target"):
        build_vocabulary([])
    with pytest.raises(ValueError, match=r"no usable target: target '   ' is unusable \(empty\)"):
        build_vocabulary(["   "])
