from __future__ import annotations

import pytest
from tag_cases import SyntheticBackend, basis

from earmark.tags import build_vocabulary, collapse_tags, inflection_table, match_rules, stems, word_family
from earmark.tags.inflect import fold_inflections, inflections


@pytest.fixture
def vocabulary():
    return build_vocabulary(
        [("dreamy", "emotion"), ("loved", "emotion"), ("haunting", "emotion"), ("dance", "genre"),
         ("oldies", "genre"), ("good", "emotion"), ("party", "descriptive"), ("melancholic", "emotion")]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("tag", "target"),
    [
        # forward: the tag's word is the target plus an ending
        ("dancing queen", "dance"),
        ("dancers", "dance"),
        # backward: the target is the tag's word plus an ending
        ("dream", "dreamy"),
        ("haunt me", "haunting"),
        ("oldie", "oldies"),
        ("love song", "loved"),  # "love" is a word of the lists
        ("melancholy", "melancholic"),  # a known word with its spelling changed
        # siblings: another form of the same stem
        ("dreams", "dreamy"),
        ("dreaming", "dreamy"),
        ("haunted house", "haunting"),
        ("loving you", "loved"),
    ],
)
def test_inflection_maps_both_ways(vocabulary, tag, target):
    match = match_rules(tag, vocabulary)
    assert (match.target.name, match.rule) == (target, "inflection")


def test_a_form_through_a_stem_yields_to_another_target():
    vocabulary = build_vocabulary([("loved", "emotion"), ("acoustic", "descriptive"), ("great", "emotion")])
    # emotion outranks descriptive, but "love" reaches "loved" only through its stem
    assert match_rules("love acoustic sound", vocabulary).target.name == "acoustic"
    assert match_rules("greatest love tunes", vocabulary).target.name == "great"  # a plain form wins
    assert match_rules("love duos", vocabulary).target.name == "loved"  # alone, the stem form counts


@pytest.mark.parametrize("tag", ["goo", "part", "parts", "fund", "electrons"])
def test_no_made_up_stems(vocabulary, tag):
    # "good" is no form of "goo", "party" none of "part": the stems are not words (a typo
    # rule may still take "goo", one letter short of "good")
    match = match_rules(tag, vocabulary)
    assert match is None or match.rule == "jaro-winkler"


def test_stems_and_families():
    assert stems("dreamy") == {"dream"}
    assert stems("loved") == set()  # "love" is a word only when a list knows it (4 letters)
    assert stems("loved", {"love"}) == {"love"}
    assert stems("good") == set()
    assert stems("party") == set()
    assert {"dream", "dreams", "dreaming"} <= word_family("dreamy")
    assert "rocking" in inflections("rock")
    assert "fund" not in inflections("fun")  # -d only after an e


def test_the_embedding_stage_reads_forms_as_the_rules_do(vocabulary):
    table = inflection_table(vocabulary, {"love"})
    assert fold_inflections("dreams of you", table) == "dreamy of you"
    assert fold_inflections("dream of you", table) == fold_inflections("dreamy of you", table)
    # "dreams of you" embeds as "dreamy of you": the synthetic model knows only that text
    backend = SyntheticBackend(
        {"dreamy": basis(32, (0, 1.0)), "dreamy of you": basis(32, (0, 1.0), (1, 0.1))}
    )
    noise = [f"noise tag {i}" for i in range(800)]
    for tag in ("dreams of you", "dream of you", "dreaming of you"):
        mapping = collapse_tags([tag, *noise], vocabulary, method="embedding", backend=backend)
        assert mapping.row_of(tag).target == "dreamy", tag
        assert mapping.row_of(tag).stage == "embedding"
    # a control: a text no form folds onto "dreamy of you" embeds at random and maps nowhere
    control = collapse_tags(["drums of you", *noise], vocabulary, method="embedding", backend=backend)
    assert control.row_of("drums of you").target == ""
