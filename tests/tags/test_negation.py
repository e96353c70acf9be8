from __future__ import annotations

import pytest
from tag_cases import SyntheticBackend, basis

from earmark.tags import NO_TARGET, build_vocabulary, collapse_tags, normalize_tags, rule_matches
from earmark.tags.negation import negation_before


@pytest.fixture
def vocabulary():
    return build_vocabulary(
        [("metal", "genre"), ("rock", "genre"), ("happy", "emotion"), ("good", "emotion"), ("soul", "genre")]
    )


@pytest.mark.parametrize(
    ("tag", "negated"),
    [
        ("not metal", "metal"),  # English negator
        ("non-metal", "metal"),  # hyphenated prefix: two words once normalised
        ("nonmetal", "metal"),  # glued prefix
        ("unhappy", "happy"),  # un- glued
        ("un-happy", "happy"),
        ("its no good trying syd barret", "good"),  # the thesis's own sample
        ("up tah no good tonight", "good"),
        ("not very good", "good"),  # an intensifier between
        ("this aint rock", "rock"),
        ("kein metal", "metal"),  # German
        ("sans rock", "rock"),  # French
        ("nie metal", "metal"),  # Polish
        ("sin metal", "metal"),  # Spanish
        ("soulless", "soul"),  # -less
        ("metal without", None),  # a negator after the target negates nothing
    ],
)
def test_negated_targets_go_nowhere(vocabulary, tag, negated):
    (found,) = rule_matches(normalize_tags([tag]), vocabulary)
    if negated is None:
        assert found[0].target.name == "metal"
        assert found[0].negated == ()
        return
    assert len(found) == 1
    assert found[0].target == NO_TARGET
    assert found[0].rule == "negation"
    assert found[0].negated == (negated,)


def test_a_negated_target_does_not_hide_another(vocabulary):
    (found,) = rule_matches(normalize_tags(["not rock but metal"]), vocabulary)
    assert [m.target.name for m in found] == ["metal"]
    assert found[0].negated == ("rock",)
    # the negator reaches over intensifiers only: "kein indie metal" is "no indie, metal"
    (found,) = rule_matches(normalize_tags(["kein indie metal"]), vocabulary)
    assert [(m.target.name, m.negated) for m in found] == [("metal", ())]


def test_negation_maps_to_the_no_x_target_when_the_vocabulary_has_one():
    vocabulary = build_vocabulary(
        [("vocals", "descriptive"), ("no vocals", "descriptive"), ("rock", "genre")]
    )
    tags = ["without vocals", "not vocals", "non-vocals", "no vocals", "vocals"]
    found = rule_matches(normalize_tags(tags), vocabulary)
    assert [m[0].target.name for m in found] == ["no vocals"] * 4 + ["vocals"]
    assert [m[0].rule for m in found] == ["negation"] * 3 + ["exact", "exact"]


def test_negation_before_walks_over_intensifiers_only():
    assert negation_before(["not", "so", "very", "good"], 3) == "not"
    assert negation_before(["no", "more", "good"], 2) == "no"
    assert negation_before(["not", "my", "good"], 2) is None
    assert negation_before(["good"], 0) is None


def test_prefixes_need_a_target_after_them(vocabulary):
    # "underground", "unique", "nonstop": the remainder is no target, so nothing is negated
    found = rule_matches(normalize_tags(["underground metal", "unique rock", "nonstop"]), vocabulary)
    assert [m[0].target.name if m else None for m in found] == ["metal", "rock", None]
    assert all(not m or not m[0].negated for m in found)


def test_anti_folk_is_folk():
    vocabulary = build_vocabulary([("folk", "genre")])
    (found,) = rule_matches(normalize_tags(["anti-folk"]), vocabulary)
    assert found[0].target.name == "folk"


def test_negated_tags_are_flagged_and_never_embedded(vocabulary):
    # the synthetic model puts "not happy" right on "happy": stage III would take it
    backend = SyntheticBackend({"happy": basis(32, (0, 1.0)), "not happy": basis(32, (0, 1.0), (1, 0.05))})
    noise = [f"noise tag {i}" for i in range(500)]
    mapping = collapse_tags(["not happy", "never metal", *noise], vocabulary, method="both", backend=backend)
    for tag in ("not happy", "never metal"):
        row = mapping.row_of(tag)
        assert row.target == ""
        assert row.stage == "none"
        assert row.rule == "negated"
        assert "negated" in row.problems
    only_embedding = collapse_tags(["not happy", *noise], vocabulary, method="embedding", backend=backend)
    row = only_embedding.row_of("not happy")
    assert (row.target, row.rule) == ("", "negated")
    assert "negated" in row.problems
    assert "not given to the embedding stage" in row.detail
    # a negator before no target: no rule negates anything, but stage III is still kept away
    rules_then = collapse_tags(["no tomorrow", *noise], vocabulary, method="both", backend=backend)
    row = rules_then.row_of("no tomorrow")
    assert (row.target, row.rule, row.problems) == ("", "negated", ("negated",))
