from __future__ import annotations

import pytest

from earmark.tags import normalize_tag, normalize_tags, normalize_text
from earmark.tags.normalize import compact, split_compound


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("Rock 'n' Roll", "rock and roll"),
        ("rock n' roll", "rock and roll"),
        ("rock'n'roll", "rock and roll"),
        ("rock n roll", "rock and roll"),
        ("rock ´n´ roll", "rock and roll"),
        ("Drum & Bass", "drum and bass"),
        ("drum &amp; bass", "drum and bass"),
        ("80's", "80s"),
        ("'80s", "80s"),
        ("Hip-Hop", "hip hop"),
        ("hip_hop", "hip hop"),
        ("  post   rock  ", "post rock"),
        ("nü-metal", "nu metal"),
        ("Café del Mar", "cafe del mar"),
        ("don't stop", "dont stop"),
        ("singer/songwriter", "singer songwriter"),
        ("ＲＯＣＫ", "rock"),  # full-width letters fold (NFKC)
        ("n", "n"),  # a lone n is a word, not "and"
    ],
)
def test_normalize_text(raw, text):
    assert normalize_text(raw) == text


def test_normalize_keeps_other_scripts_and_flags_them():
    tag = normalize_tag("ロック")
    assert tag.text == "ロック"
    assert tag.problems == ("non_latin",)
    assert tag.usable  # reported, not dropped
    assert normalize_tag("русский рок").problems == ("non_latin",)
    assert normalize_tag("rock").problems == ()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\t", "empty"),
        ("!!!", "no_letters"),
        ("😀🎸", "no_letters"),
        ("...---", "no_letters"),
    ],
)
def test_unusable_tags(raw, problem):
    tag = normalize_tag(raw)
    assert tag.text == ""
    assert tag.problems == (problem,)
    assert not tag.usable


def test_html_markup_is_removed_and_reported():
    tag = normalize_tag("<b>Metal</b>")
    assert (tag.text, tag.problems) == ("metal", ("markup",))
    assert normalize_tag("&lt;i&gt;sad&lt;/i&gt;").text == "sad"  # escaped markup too
    assert normalize_tag("<script>alert(1)</script>").text == "alert 1"
    assert normalize_tag("i <3 rock").problems == ()  # a heart is not markup


def test_ten_thousand_character_tags_are_cut_and_flagged():
    words = normalize_tag("rock " * 2000)
    assert len("rock " * 2000) == 10_000
    assert "too_long" in words.problems
    assert not words.usable
    assert len(words.text) <= 200
    assert words.text.endswith("rock")
    single = normalize_tag("x" * 10_000, max_chars=50)
    assert single.text == "x" * 50
    assert single.problems == ("too_long",)


def test_max_chars_must_be_positive():
    with pytest.raises(ValueError, match="max_chars must be at least 1"):
        normalize_tag("rock", max_chars=0)


def test_duplicates_in_a_list_are_flagged_after_the_first():
    tags = normalize_tags(["rock", "Rock", "rock", ""])
    assert [t.problems for t in tags] == [(), (), ("duplicate",), ("empty",)]
    assert not tags[2].usable


def test_compact_and_split_compound():
    assert compact("hip hop") == "hiphop"
    known = {"punk", "rock", "alternative", "et"}
    assert split_compound("punkrock", known) == ("punk", "rock")
    assert split_compound("alternativerock", known) == ("alternative", "rock")
    assert split_compound("rocket", known) is None  # "et" is shorter than three letters
    assert split_compound("rock", known) is None  # known words do not split
