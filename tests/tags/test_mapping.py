from __future__ import annotations

import pytest
from tag_cases import noise_tags

from earmark.tags import COLUMNS, TagMapping, build_vocabulary, collapse_tags


def rows_by_tag(mapping):
    return {row.tag: row for row in mapping.rows}


def test_rules_only(genre_vocabulary):
    mapping = collapse_tags(["Hip-Hop", "80s metal", "qqqq", "", "rock"], genre_vocabulary, method="rules")
    rows = rows_by_tag(mapping)
    assert (rows["Hip-Hop"].target, rows["Hip-Hop"].stage, rows["Hip-Hop"].rule) == (
        "hip hop",
        "rules",
        "exact",
    )
    assert rows["80s metal"].target_category == "genre"
    assert rows["80s metal"].tag_category == "genre"
    assert (rows["qqqq"].target, rows["qqqq"].stage, rows["qqqq"].rule) == ("", "none", "no match")
    assert (rows[""].stage, rows[""].rule, rows[""].problems) == ("none", "problem", ("empty",))
    assert rows["rock"].score == 1.0
    assert rows["qqqq"].score is None


def test_both_stages_with_a_synthetic_backend(emotion_backend, emotion_vocabulary, tmp_path):
    tags = ["Happy", "joyful", "gloomy", "bittersweet", *noise_tags(1000)]
    mapping = collapse_tags(
        tags, emotion_vocabulary, method="both", backend=emotion_backend, cache_dir=tmp_path
    )
    rows = rows_by_tag(mapping)
    assert (rows["Happy"].stage, rows["Happy"].rule) == ("rules", "exact")
    assert (rows["joyful"].target, rows["joyful"].stage, rows["joyful"].rule) == (
        "happy",
        "embedding",
        "percentile",
    )
    assert rows["bittersweet"].target == "sad"
    assert "distance" in rows["joyful"].detail
    assert emotion_backend.calls == 1
    collapse_tags(tags, emotion_vocabulary, method="both", backend=emotion_backend, cache_dir=tmp_path)
    assert emotion_backend.calls == 1  # warm: read from the cache


def test_embedding_only_maps_the_targets_themselves_too(emotion_backend, emotion_vocabulary):
    mapping = collapse_tags(
        ["happy", "joyful", *noise_tags(500)], emotion_vocabulary, method="embedding", backend=emotion_backend
    )
    rows = rows_by_tag(mapping)
    assert (rows["happy"].stage, rows["happy"].rule) == ("embedding", "percentile")
    assert rows["happy"].score == pytest.approx(1.0)


def test_overrides_win_over_both_stages(emotion_backend, emotion_vocabulary):
    overrides = {"joyful": "sad", "HAPPY": None, "gloomy": "Sad"}
    mapping = collapse_tags(
        ["happy", "joyful", "gloomy", *noise_tags(300)],
        emotion_vocabulary,
        overrides=overrides,
        backend=emotion_backend,
    )
    rows = rows_by_tag(mapping)
    assert (rows["joyful"].target, rows["joyful"].stage, rows["joyful"].rule) == (
        "sad",
        "override",
        "override",
    )
    assert (rows["happy"].target, rows["happy"].stage) == ("", "override")
    assert rows["gloomy"].target == "sad"


def test_an_override_naming_no_target_raises(genre_vocabulary):
    with pytest.raises(
        ValueError, match="the override of tag 'rokk' names 'rokk music', which is not a target"
    ):
        collapse_tags(["rokk"], genre_vocabulary, method="rules", overrides={"rokk": "rokk music"})


def test_bad_input_is_reported_not_crashed(emotion_backend, emotion_vocabulary):
    tags = [
        "",
        "   ",
        "!!!",
        "😀🎸",
        "ロック",
        "x" * 10_000,
        "<b>happy</b>",
        "happy",
        "happy",
        *noise_tags(200),
    ]
    mapping = collapse_tags(tags, emotion_vocabulary, backend=emotion_backend)
    rows = rows_by_tag(mapping)
    assert len(mapping.rows) == len(tags) - 1  # the repeated "happy" is mapped once
    assert "1 repeated tags mapped once (first: 'happy')" in mapping.warnings
    assert rows[""].problems == ("empty",)
    assert rows["😀🎸"].problems == ("no_letters",)
    assert rows["x" * 10_000].problems == ("too_long",)
    assert rows["x" * 10_000].rule == "problem"
    assert rows["ロック"].problems == ("non_latin",)
    assert rows["<b>happy</b>"].target == "happy"
    assert rows["<b>happy</b>"].problems == ("markup",)


def test_duplicates_in_the_vocabulary_are_reported_in_the_mapping():
    vocabulary = build_vocabulary([("rock", "genre"), ("Rock", "genre"), ("zzkq", None)])
    mapping = collapse_tags(["rock"], vocabulary, method="rules")
    assert any("duplicates 'rock'" in w for w in mapping.warnings)
    assert any("'zzkq' is in no category" in w for w in mapping.warnings)
    assert mapping.categories() == {"rock": "genre", "zzkq": "uncategorized"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "fuzzy"}, "unknown method 'fuzzy'; valid methods: rules, embedding, both"),
        ({"score_level": 0}, r"score_level must be in \(0, 1\]"),
        ({"percentile": 60}, r"percentile must be in \(0, 50\) percent"),
    ],
)
def test_bad_options(genre_vocabulary, options, message):
    with pytest.raises(ValueError, match=message):
        collapse_tags(["rock"], genre_vocabulary, **options)


def test_csv_round_trip_with_awkward_tags(tmp_path, genre_vocabulary):
    tags = ['say "rock"', "rock, metal", "line\nbreak rock", "<i>pop</i>", "ロック", ""]
    mapping = collapse_tags(tags, genre_vocabulary, method="rules")
    path = mapping.write_csv(tmp_path / "mapping.csv")
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(COLUMNS)
    again = TagMapping.read_csv(path)
    assert again.rows == mapping.rows
    assert again.target_names == tuple(sorted({r.target for r in mapping.rows if r.target}))
    assert again.row_of("ROCK, METAL").target == "rock metal"  # found by its normalised text
    assert again.row_of("never seen") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not a tag mapping"),
        ("tag,target\nrock,rock\n", "not a tag mapping"),
        (",".join(COLUMNS) + "\nrock,rock\n", "line 2: 2 cells, a mapping row has 10"),
        (
            ",".join(COLUMNS) + "\nrock,rock,genre,rock,genre,stage9,exact,1,,\n",
            "line 2: unknown stage 'stage9'",
        ),
        (
            ",".join(COLUMNS) + "\nrock,rock,genre,rock,genre,rules,exact,high,,\n",
            "line 2: score 'high' is not a number",
        ),
        (
            ",".join(COLUMNS) + "\nrock,rock,genre,rock,genre,rules,exact,inf,,\n",
            "line 2: score 'inf' is not finite",
        ),
        (
            ",".join(COLUMNS) + "\nrock,rock,genre,rock,genre,none,x,,,\n",
            "line 2: stage 'none' with target 'rock'",
        ),
    ],
)
def test_malformed_mapping_files(tmp_path, content, message):
    path = tmp_path / "mapping.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        TagMapping.read_csv(path)


def test_missing_mapping_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="mapping not found"):
        TagMapping.read_csv(tmp_path / "nope.csv")
