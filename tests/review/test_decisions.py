"""The accept / reject / other-label rule of the review page, in Python."""

from __future__ import annotations

import json

import pytest

from earmark.audit.table import AuditItem
from earmark.review.decisions import CHOSEN, EditDraft, card_edits, decision_edits, fill_chosen


def card(suggestion: str, class_name: str = "Rain", rank: int = 3) -> AuditItem:
    return AuditItem(clip="c1", class_name=class_name, suggestion=suggestion, score=0.5, rank=rank)  # type: ignore[arg-type]


def pairs(drafts: list[EditDraft]) -> list[tuple[str, str]]:
    return [(draft.class_name, draft.action) for draft in drafts]


@pytest.mark.parametrize(
    ("suggestion", "class_name", "expected"),
    [
        ("add", "Rain", [("Rain", "add")]),
        ("remove", "Rain", [("Rain", "remove")]),
        ("blacklist", "", [("", "blacklist")]),
    ],
)
def test_accept_writes_the_suggestion(suggestion, class_name, expected):
    edits = decision_edits(card(suggestion, class_name), ["Rain", "Dog bark"], "accept")
    assert pairs(edits) == expected
    assert edits[0].why == "review: accepted the suggestion (audit rank 3)"


def test_reject_writes_the_opposite():
    assert pairs(decision_edits(card("add"), [], "reject")) == [("Rain", "remove")]
    assert decision_edits(card("add"), [], "reject")[0].why == "review: not present (audit rank 3)"
    assert pairs(decision_edits(card("remove"), ["Rain"], "reject")) == [("Rain", "add")]
    assert (
        decision_edits(card("remove"), ["Rain"], "reject")[0].why == "review: label confirmed (audit rank 3)"
    )


def test_rejecting_a_blacklist_confirms_every_positive():
    edits = decision_edits(card("blacklist", ""), ["Rain", "Dog bark"], "reject")
    assert pairs(edits) == [("Rain", "add"), ("Dog bark", "add")]
    assert {edit.why for edit in edits} == {"review: clip kept, label confirmed (audit rank 3)"}
    assert decision_edits(card("blacklist", ""), [], "reject") == []


def test_other_replaces_the_cards_class_by_the_chosen_one():
    edits = decision_edits(card("remove"), ["Rain"], "other", chosen="Helicopter")
    assert pairs(edits) == [("Rain", "remove"), ("Helicopter", "add")]
    assert [edit.why for edit in edits] == [
        "review: Helicopter instead (audit rank 3)",
        "review: chosen label (audit rank 3)",
    ]
    assert not any(edit.unless_chosen for edit in edits)


def test_other_choosing_the_cards_own_class_only_adds_it():
    assert pairs(decision_edits(card("add"), [], "other", chosen="Rain")) == [("Rain", "add")]


def test_other_on_a_blacklist_replaces_every_positive_but_the_chosen():
    edits = decision_edits(card("blacklist", ""), ["Rain", "Dog bark"], "other", chosen="Dog bark")
    assert pairs(edits) == [("Rain", "remove"), ("Dog bark", "add")]


def test_skip_writes_nothing():
    assert decision_edits(card("add"), ["Rain"], "skip") == []


def test_bad_decisions_are_refused():
    with pytest.raises(ValueError, match=r"card 3 \(c1\): an 'other' decision needs the chosen label"):
        decision_edits(card("add"), [], "other")
    with pytest.raises(ValueError, match="unknown decision 'maybe'"):
        decision_edits(card("add"), [], "maybe")  # type: ignore[arg-type]


@pytest.mark.parametrize("suggestion", ["add", "remove", "blacklist"])
def test_card_edits_are_what_the_rule_says(suggestion):
    item = card(suggestion, "" if suggestion == "blacklist" else "Rain")
    positive = ["Rain", "Dog bark"]
    given = card_edits(item, positive)
    json.dumps(given)  # the page embeds it
    assert sorted(given) == ["accept", "other", "reject", "skip"]
    for decision in ("accept", "reject", "skip"):
        assert given[decision] == [edit.as_dict() for edit in decision_edits(item, positive, decision)]
    other = [
        EditDraft(d["class"], d["action"], d["why"], unless_chosen=d["unlessChosen"]) for d in given["other"]
    ]
    assert other[-1].class_name == CHOSEN
    for chosen in ("Rain", "Dog bark", "Helicopter"):
        assert fill_chosen(other, chosen) == decision_edits(item, positive, "other", chosen=chosen)
