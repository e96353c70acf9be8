from __future__ import annotations

import pytest

from earmark.tags import (
    CATEGORIES,
    categorize_tag,
    categorize_tags,
    jaro_winkler,
    load_wordlists,
    normalize_tags,
)


@pytest.mark.parametrize(
    ("tag", "category", "rule"),
    [
        # the examples
        ("happy", "emotion", "exact"),
        ("sad", "emotion", "exact"),
        ("mellow", "emotion", "exact"),
        ("american", "descriptive", "exact"),
        ("beautiful", "descriptive", "exact"),
        ("awesome", "descriptive", "exact"),
        ("rock", "genre", "exact"),
        ("alternative rock", "genre", "exact"),
        ("hip hop", "genre", "exact"),
        ("80s", "number", "words"),
        ("2000s", "number", "words"),
        ("top 5", "number", "exact"),
        ("favorites", "junk", "exact"),
        ("zzzzzzzz", "junk", "junk-pattern"),
        # words inside longer tags, with the priority genre > emotion > descriptive > number > junk
        ("80s metal", "genre", "words"),
        ("sad songs for rainy days", "emotion", "words"),
        ("beautiful voice", "descriptive", "words"),
        ("my favorites", "junk", "exact"),
        ("seen live in 2008", "number", "words"),
        ("punkrock", "genre", "words"),  # glued words split
        # typos (Jaro-Winkler at 0.9)
        ("rcok", "genre", "typo"),
        ("melankolik", "emotion", "typo"),
        # nothing known
        ("qwpbrtz", "junk", "junk-pattern"),
        ("lorem ipsum", "junk", "unmatched"),
    ],
)
def test_rules(tag, category, rule):
    result = categorize_tag(tag)
    assert (result.category, result.rule) == (category, rule), result


def test_typo_records_the_corrected_word_and_its_score():
    result = categorize_tag("rcok")
    assert result.matched == "rock"
    assert result.score == pytest.approx(0.925, abs=1e-4)


def test_typo_threshold_edges():
    score = jaro_winkler("rcok", "rock")  # 0.925 (0.92499… in floating point)
    assert categorize_tag("rcok", score_level=score).rule == "typo"
    assert categorize_tag("rcok", score_level=score + 1e-9).rule == "unmatched"


@pytest.mark.parametrize(
    ("tag", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("?!?!", "no_letters"),
        ("🎸🔥", "no_letters"),
        ("rock " * 2000, "too_long"),
    ],
)
def test_unusable_tags_are_junk_with_the_problem_named(tag, problem):
    result = categorize_tag(tag)
    assert (result.category, result.rule, result.matched) == ("junk", "problem", problem)


def test_non_latin_and_markup_are_categorised_not_crashed():
    assert categorize_tag("<i>sad</i>").category == "emotion"
    result = categorize_tag("ロック")
    assert result.category == "junk"
    assert "non_latin" in result.tag.problems


def test_duplicates_in_a_list_are_junk_after_the_first():
    results = categorize_tags(normalize_tags(["rock", "rock"]))
    assert [(r.category, r.rule) for r in results] == [("genre", "exact"), ("junk", "problem")]


def test_extra_words_and_priority():
    lists = load_wordlists({"emotion": ["Sehnsucht"]})
    assert categorize_tag("sehnsucht", wordlists=lists).category == "emotion"
    replaced = load_wordlists({"genre": ["polka"]}, replace=True)
    assert categorize_tag("rock", wordlists=replaced).category != "genre"
    emotion_first = ("emotion", "genre", "descriptive", "number", "junk")
    assert categorize_tag("sad rock", priority=emotion_first).category == "emotion"
    assert categorize_tag("sad rock").category == "genre"


def test_bad_options():
    with pytest.raises(ValueError, match="unknown tag category 'mood'"):
        load_wordlists({"mood": ["calm"]})
    with pytest.raises(ValueError, match="priority must order all of"):
        categorize_tag("rock", priority=("genre", "emotion"))
    with pytest.raises(ValueError, match="score_level must be in"):
        categorize_tag("rock", score_level=1.5)


def test_every_shipped_list_is_there_and_normalised():
    lists = load_wordlists()
    assert set(lists.words) == set(CATEGORIES)
    for category, words in lists.words.items():
        assert len(words) >= 30, category
        assert all(word == word.strip().lower() and "  " not in word for word in words)
