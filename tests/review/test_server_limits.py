"""The review server under hostile or broken input: every request gets a reply, and the next
decision is still saved (issue 15). Runs on synthetic tones, no real data needed."""

from __future__ import annotations

import json
import logging

import pytest
from review_helpers import request

from earmark.data.edits import MAX_FIELD_CHARS, read_edits
from earmark.review.server import MAX_BODY_BYTES, MAX_JSON_DEPTH, ReviewServer

EDIT = {"clip": "tone-1", "class": "Low tone", "action": "add", "who": "me", "why": "heard it"}


def post(server: ReviewServer, body: str | bytes, **headers: str) -> tuple[int, dict[str, object]]:
    status, _, reply = request(server, "POST", "/api/decision", body=body, headers=headers)
    return status, json.loads(reply)


def decision(*edits: dict[str, str], key: str = "card-1") -> str:
    return json.dumps({"key": key, "previous": [], "edits": list(edits)})


def status_of(server: ReviewServer) -> tuple[int, dict[str, object]]:
    status, headers, reply = request(server, "GET", "/api/status")
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(reply)


def assert_still_saving(server: ReviewServer, expected_count: int) -> None:
    """A valid decision is saved and the status answers, after whatever came before."""
    status, reply = post(server, decision(EDIT, key=f"card-{expected_count}"))
    assert (status, reply) == (200, {"ok": True, "file": "label-edits.csv", "count": expected_count})
    assert status_of(server) == (200, {"served": True, "file": "label-edits.csv", "count": expected_count})


def test_a_200000_character_why_is_refused_and_the_next_decision_is_saved(tone_server):
    status, reply = post(tone_server, decision({**EDIT, "why": "x" * 200_000}))
    assert status == 400
    assert reply["error"] == (
        "the why of the edit of clip 'tone-1' has 200,000 characters, more than the "
        f"{MAX_FIELD_CHARS:,} a label-edits field may hold; shorten it"
    )
    assert not tone_server.edits_path.exists()
    assert_still_saving(tone_server, 1)
    assert_still_saving(tone_server, 2)
    assert [edit.why for edit in read_edits(tone_server.edits_path)] == ["heard it", "heard it"]


@pytest.mark.parametrize("column", ["clip", "class", "who", "why", "time"])
def test_any_over_long_field_is_refused_naming_it(tone_server, column):
    status, reply = post(tone_server, decision({**EDIT, column: "y" * (MAX_FIELD_CHARS + 1)}))
    assert status == 400
    assert f"the {column} of the edit of clip" in str(reply["error"])
    assert f"{MAX_FIELD_CHARS + 1:,} characters" in str(reply["error"])
    assert_still_saving(tone_server, 1)


def test_a_why_at_the_limit_is_saved_and_read_back(tone_server):
    why = 'a "quoted", multi\nline reason ' + "z" * MAX_FIELD_CHARS
    why = why[:MAX_FIELD_CHARS]
    status, reply = post(tone_server, decision({**EDIT, "why": why}))
    assert (status, reply["count"]) == (200, 1)
    assert [edit.why for edit in read_edits(tone_server.edits_path)] == [why]
    assert_still_saving(tone_server, 2)


def test_a_body_over_the_limit_gets_413_and_the_server_goes_on(tone_server):
    body = decision({**EDIT, "why": "w" * (MAX_BODY_BYTES + 10)})
    status, reply = post(tone_server, body)
    assert status == 413
    assert reply["error"] == f"the decision has {len(body):,} bytes, over MAX_BODY_BYTES = {MAX_BODY_BYTES:,}"
    assert not tone_server.edits_path.exists()
    assert_still_saving(tone_server, 1)


def test_a_declared_length_over_the_limit_is_refused_before_reading(tone_server):
    status, reply = post(tone_server, decision(EDIT), **{"Content-Length": str(10 * MAX_BODY_BYTES)})
    assert status == 413
    assert f"{10 * MAX_BODY_BYTES:,} bytes, over MAX_BODY_BYTES" in str(reply["error"])
    assert_still_saving(tone_server, 1)


@pytest.mark.parametrize("depth", [10_000, 200, MAX_JSON_DEPTH + 1])
def test_deeply_nested_json_gets_400(tone_server, depth):
    status, reply = post(tone_server, "[" * depth + "]" * depth)
    assert status == 400
    assert reply["error"] == f"the decision nests deeper than {MAX_JSON_DEPTH} levels of arrays and objects"
    nested = {"key": "k", "edits": [], "previous": [], "extra": json.loads("[" * 20 + "]" * 20)}
    status, reply = post(tone_server, json.dumps(nested))
    assert status == 400
    assert "nests deeper than" in str(reply["error"])
    assert_still_saving(tone_server, 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{", "the decision is not JSON: Expecting property name"),
        (b"\xff\xfe\x00", "the decision is not"),
        ("[]", "a decision is"),
        ('{"key": 3, "edits": []}', "a decision is"),
        ('{"key": "k", "edits": {"clip": "tone-1"}}', "edits must be a list"),
        ('{"key": "k", "edits": [["tone-1"]]}', "every edit is an object of strings"),
        ('{"key": "k", "edits": [{"clip": "tone-1", "why": null}]}', "every edit is an object of strings"),
        ('{"key": "k", "edits": [{"clip": "tone-1", "class": "Low tone"}]}', "unknown action ''"),
        (
            '{"key": "k", "edits": [{"clip": "tone-1", "action": "unlabel"}]}',
            "'unlabel' is not one of add, remove, blacklist",
        ),
        (
            '{"key": "k", "edits": [{"clip": "\\ud800", "class": "Low tone", "action": "add"}]}',
            "not valid text",
        ),
    ],
)
def test_malformed_decisions_get_400_with_the_reason(tone_server, body, message):
    status, reply = post(tone_server, body)
    assert status == 400
    assert message in str(reply["error"])
    assert_still_saving(tone_server, 1)


def test_an_empty_body_gets_400(tone_server):
    status, reply = post(tone_server, b"")
    assert (status, reply) == (400, {"error": "the decision is empty (Content-Length 0)"})
    assert_still_saving(tone_server, 1)


def test_an_unexpected_failure_is_a_logged_500_and_the_next_request_is_served(
    tone_server, monkeypatch, caplog
):
    def broken(previous, edits):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tone_server, "record", broken)
    with caplog.at_level(logging.ERROR, logger="earmark.review.server"):
        status, reply = post(tone_server, decision(EDIT))
    assert status == 500
    assert reply["error"] == (
        "the review server failed (RuntimeError: disk on fire); its log has the details"
    )
    assert "POST /api/decision failed" in caplog.text
    assert "disk on fire" in caplog.text
    monkeypatch.undo()
    assert_still_saving(tone_server, 1)


def test_an_edits_file_broken_by_hand_is_named_and_saving_resumes_once_fixed(tone_server):
    assert_still_saving(tone_server, 1)
    good = tone_server.edits_path.read_text(encoding="utf-8")
    tone_server.edits_path.write_text(good + f"tone-2,Low tone,add,me,{'x' * 200_000},\n", encoding="utf-8")
    status, reply = status_of(tone_server)
    assert status == 500
    assert "label-edits.csv, line 3: a field is longer than the" in str(reply["error"])
    status, reply = post(tone_server, decision(EDIT, key="other"))
    assert status == 500
    assert "cannot save to label-edits.csv" in str(reply["error"])
    assert "line 3: a field is longer than" in str(reply["error"])
    tone_server.edits_path.write_text(good, encoding="utf-8")
    assert_still_saving(tone_server, 2)
