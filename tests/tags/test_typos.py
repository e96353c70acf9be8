from __future__ import annotations

import pytest

from earmark.tags import closest, jaro_winkler


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("martha", "marhta", 0.9611),  # the textbook pair
        ("dixon", "dicksonx", 0.8133),
        ("rcok", "rock", 0.925),
        ("rock", "rock", 1.0),
        ("abc", "xyz", 0.0),
    ],
)
def test_jaro_winkler_known_values(first, second, expected):
    assert jaro_winkler(first, second) == pytest.approx(expected, abs=1e-4)


def test_threshold_is_inclusive_at_the_exact_score():
    score = jaro_winkler("rcok", "rock")
    assert closest("rcok", ["rock"], score_level=score) == ("rock", pytest.approx(score))
    assert closest("rcok", ["rock"], score_level=score + 1e-9) is None


@pytest.mark.parametrize(
    ("word", "score_level", "expected"),
    [
        ("rcok", 0.92, "rock"),  # 0.925 ≥ 0.92
        ("rcok", 0.93, None),  # 0.925 < 0.93
        ("jazzy", 0.96, "jazz"),  # exactly 0.96 (4 of 5 letters, prefix 4)
        ("jazzy", 0.9601, None),
        ("popular", 0.9, None),  # 0.867
    ],
)
def test_threshold_edges(word, score_level, expected):
    hit = closest(word, ["rock", "jazz", "pop"], score_level=score_level)
    assert (hit[0] if hit else None) == expected


def test_closest_picks_the_best_and_the_first_on_ties():
    assert closest("rocks", ["rock", "rocky"], score_level=0.5)[0] in ("rock", "rocky")
    assert closest("ab", ["ac", "ad"], score_level=0.1)[0] == "ac"
    assert closest("", ["rock"]) is None
    assert closest("rock", []) is None


@pytest.mark.parametrize("score_level", [0.0, -0.1, 1.01, float("nan")])
def test_score_level_out_of_range(score_level):
    with pytest.raises(ValueError, match=r"score_level must be in \(0, 1\]"):
        closest("rock", ["rock"], score_level=score_level)
