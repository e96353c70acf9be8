from __future__ import annotations

import pytest
from tag_cases import SyntheticBackend, basis

from earmark.tags import (
    ClipTags,
    CollapseOptions,
    TagMapping,
    build_vocabulary,
    collapse_tags,
    normalize_tags,
    rule_matches,
    summarize,
    tags_to_labels,
)


@pytest.fixture
def vocabulary():
    return build_vocabulary(
        [("punk", "genre"), ("rock", "genre"), ("folk", "genre"), ("acoustic", "descriptive"),
         ("female", "descriptive"), ("vocals", "descriptive"), ("alternative rock", "genre"),
         ("80s", "number")]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("tag", "single", "several"),
    [
        ("punk rock", ["rock"], ["punk", "rock"]),
        ("female vocals", ["vocals"], ["female", "vocals"]),  # single: the last of a category
        ("acoustic folk-rock", ["rock"], ["acoustic", "folk", "rock"]),
        ("80s punk", ["punk"], ["80s", "punk"]),
        ("alternative rock", ["alternative rock"], ["alternative rock"]),  # no "rock" inside it
        ("great alternative rock", ["alternative rock"], ["alternative rock"]),
        ("punkrock", ["rock"], ["punk", "rock"]),  # glued
        ("rock rock", ["rock"], ["rock"]),  # one row per target
    ],
)
def test_a_tag_maps_to_every_target_it_contains(vocabulary, tag, single, several):
    (one,) = rule_matches(normalize_tags([tag]), vocabulary)
    (many,) = rule_matches(normalize_tags([tag]), vocabulary, multi=True)
    assert [m.target.name for m in one] == single
    assert [m.target.name for m in many] == several


def test_multi_mapping_csv_has_one_row_per_tag_and_target(vocabulary, tmp_path):
    options = CollapseOptions(multi=True, fit_sample=0)
    mapping = collapse_tags(
        ["punk rock", "folk", "nothing here"], vocabulary, method="rules", options=options
    )
    assert [(r.tag, r.target) for r in mapping.rows] == [
        ("punk rock", "punk"), ("punk rock", "rock"), ("folk", "folk"), ("nothing here", ""),
    ]  # fmt: skip
    assert mapping.num_tags == 3
    summary = summarize(mapping)
    assert (summary.num_tags, summary.num_mapped) == (3, 2)
    back = TagMapping.read_csv(mapping.write_csv(tmp_path / "mapping.csv"))
    assert [r.target for r in back.rows_of("punk rock")] == ["punk", "rock"]
    assert [r.target for r in back.rows_of("Punk Rock")] == ["punk", "rock"]  # by normalised text


def test_to_labels_makes_every_target_of_a_tag_positive(vocabulary):
    mapping = collapse_tags(
        ["punk rock", "folk"], vocabulary, method="rules", options=CollapseOptions(multi=True, fit_sample=0)
    )
    clips = ClipTags(("a", "b"), ({"punk rock": 1.0}, {"folk": 1.0}), ("", ""))
    labels = tags_to_labels(clips, mapping).labels
    positive = {
        clip: {name for name, on in zip(labels.class_names, row, strict=True) if on}
        for clip, row in zip(labels.clip_ids, labels.positive, strict=True)
    }
    assert positive == {"a": {"punk", "rock"}, "b": {"folk"}}


def test_multi_in_the_embedding_stage_keeps_every_claiming_target():
    vocabulary = build_vocabulary([("happy", "emotion"), ("sad", "emotion")])
    backend = SyntheticBackend(
        {
            "happy": basis(32, (0, 1.0)),
            "sad": basis(32, (1, 1.0)),
            "bittersweet": basis(32, (0, 1.0), (1, 1.1)),
        }
    )
    tags = ["bittersweet", *(f"noise tag {i}" for i in range(2000))]
    single = collapse_tags(tags, vocabulary, method="embedding", backend=backend)
    multi = collapse_tags(
        tags,
        vocabulary,
        method="embedding",
        backend=backend,
        options=CollapseOptions(multi=True, fit_sample=0),
    )
    assert [r.target for r in single.rows_of("bittersweet")] == ["sad"]
    assert [r.target for r in multi.rows_of("bittersweet")] == ["sad", "happy"]  # nearest first
