from __future__ import annotations

import pytest

from earmark.tags import build_vocabulary, collapse_by_rules, jaro_winkler, match_rules, normalize_tags
from earmark.tags.collapse import decade_spellings, inflections


def target_of(tag, vocabulary, **options):
    match = match_rules(tag, vocabulary, **options)
    return None if match is None else (match.target.name, match.rule)


@pytest.mark.parametrize(
    ("tag", "target", "rule"),
    [
        # normalisation then exact match
        ("Rock", "rock", "exact"),
        ("Hip-Hop", "hip hop", "exact"),
        ("singer songwriter", "singer-songwriter", "exact"),
        ("<b>80's</b>", "80s", "exact"),
        # space-insensitive
        ("hiphop", "hip hop", "space-insensitive"),
        ("alternativerock", "alternative rock", "space-insensitive"),
        # containment, the thesis's examples
        ("80s metal", "metal", "containment"),  # genre beats number
        ("british rock metal", "rock metal", "containment"),  # the longest target wins
        ("hiphop classics", "hip hop", "containment"),  # space-insensitive inside
        ("punkrock", "rock", "containment"),  # glued known words split
        ("indie pop", "pop", "containment"),  # same length and category: the last one
        ("sad rock", "rock", "containment"),  # genre beats emotion
        ("great british band", "british", "containment"),
        ("not rock but metal", "metal", "containment"),  # negated targets do not count
        # decade
        ("1980s", "80s", "decade"),
        ("eighties classics", "80s", "decade"),
        ("1985", "80s", "decade"),
        ("80er disko", "80s", "decade"),
        # inflection
        ("rockin all over the world", "rock", "inflection"),
        ("kind of sexyness", "sexy", "inflection"),
        ("happiness", "happy", "inflection"),
        ("indie rocks", "indie", "containment"),  # a plain target wins over an inflected one
        # compound
        ("numetal", "metal", "compound"),
        ("supersexy", "sexy", "compound"),
        # Jaro-Winkler typos
        ("singer songwritter", "singer-songwriter", "jaro-winkler"),
        ("alternatve rock", "rock", "containment"),  # containment comes before typos
        ("rcok", "rock", "jaro-winkler"),
        ("nu metall", "metal", "jaro-winkler"),  # one word of a longer tag
        ("80", "80s", "jaro-winkler"),  # not a decade by itself, but one letter short of one
    ],
)
def test_rules(genre_vocabulary, tag, target, rule):
    assert target_of(tag, genre_vocabulary) == (target, rule)


@pytest.mark.parametrize(
    "tag",
    [
        "rocket in my pants",  # whole words only, unlike a substring search
        "lollipop",
        "hotel",  # no typo of "hot": three letters longer
        "goodbye",
        "non metal",  # negated
        "unhappy",  # negated compound
        "funky",  # a correct word of the lists is not a typo of anything
        "shamrocks and mud",  # no inflection (the word does not start with the target)
        "jazz",  # not a target here
        "1990s",  # a decade that is not a target
        "",
        "!!!",
        "ロック",
        "x" * 10_000,
    ],
)
def test_no_rule_applies(genre_vocabulary, tag):
    assert target_of(tag, genre_vocabulary) is None


def test_jaro_winkler_threshold_edges(genre_vocabulary):
    score = jaro_winkler("rcok", "rock")
    assert target_of("rcok", genre_vocabulary, score_level=score) == ("rock", "jaro-winkler")
    assert target_of("rcok", genre_vocabulary, score_level=score + 1e-9) is None
    match = match_rules("rcok", genre_vocabulary)
    assert match.score == pytest.approx(score)
    assert "'rcok' is within Jaro-Winkler 0.9 of 'rock'" in match.detail


def test_jaro_winkler_refuses_length_changes_over_one(genre_vocabulary):
    # "rockkk" scores 0.93 against "rock" but is two letters longer
    assert jaro_winkler("rockkk", "rock") > 0.9
    assert target_of("rockkk", genre_vocabulary) is None
    assert target_of("rockk", genre_vocabulary) == ("rock", "jaro-winkler")


def test_details_say_what_matched(genre_vocabulary):
    assert match_rules("80s metal", genre_vocabulary).detail == "contains 'metal'"
    assert (
        match_rules("punkrock", genre_vocabulary).detail == "contains 'rock' (split 'punkrock' → 'punk rock')"
    )
    assert match_rules("numetal", genre_vocabulary).detail == "'numetal' ends with 'metal'"
    assert match_rules("rocking", genre_vocabulary).detail == "contains 'rocking', a form of 'rock'"


def test_collapse_by_rules_keeps_order_and_skips_unusable(genre_vocabulary):
    tags = normalize_tags(["metal", "", "rock", "rock", "qqqq"])
    found = collapse_by_rules(tags, genre_vocabulary)
    assert [m.target.name if m else None for m in found] == ["metal", None, "rock", None, None]


def test_decade_spellings():
    assert decade_spellings("00s") == ("00s", "2000s")
    assert decade_spellings("2008") == ("00s", "2000s")
    assert decade_spellings("nineties") == ("90s", "1990s")
    assert decade_spellings("80") == ()
    assert decade_spellings("0000") == ()


def test_inflections():
    assert {"dancing", "dancer", "danceable", "dances"} <= inflections("dance")
    assert {"hottest", "hotter"} <= inflections("hot")
    assert "happiness" in inflections("happy")
    assert "rocket" not in inflections("rock")
    assert "hotel" not in inflections("hot")


def test_without_a_category_priority_the_last_target_wins():
    vocabulary = build_vocabulary([("rock", "genre"), ("pop", "genre")])
    assert target_of("pop rock", vocabulary) == ("rock", "containment")
    assert target_of("rock pop", vocabulary) == ("pop", "containment")


def test_bad_score_level(genre_vocabulary):
    with pytest.raises(ValueError, match=r"score_level must be in \(0, 1\]"):
        collapse_by_rules(normalize_tags(["rock"]), genre_vocabulary, score_level=0)


def test_category_priority_crosses_the_inside_rules():
    vocabulary = build_vocabulary(
        [("punk", "genre"), ("funny", "emotion"), ("folk", "genre"), ("chill", "descriptive")]
    )
    assert target_of("funny french punks", vocabulary) == ("punk", "inflection")  # a genre, though inflected
    assert target_of("folky chill", vocabulary) == ("folk", "inflection")
    assert target_of("funny chill", vocabulary) == ("funny", "containment")  # emotion before descriptive
