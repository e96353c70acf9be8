from __future__ import annotations

import json
import os
import threading

import pytest
from review_helpers import request

from earmark.data.edits import LabelEdit, read_edits, write_edits
from earmark.review import ReviewError, ReviewServer

pytestmark = pytest.mark.realdata


def as_rows(edits):
    return [dict(zip(("clip", "class", "action", "who", "why", "time"), e, strict=False)) for e in edits]


def decision(key, *edits, previous=()):
    return json.dumps({"key": key, "previous": as_rows(previous), "edits": as_rows(edits)})


def test_binds_to_loopback_only(server):
    assert server.server_address[0] == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}/"


def test_serves_the_page_and_its_media(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'id="review-data"' in body
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, headers, body = request(server, "GET", "/media/c0001.ogg?x=1")
    assert status == 200
    assert headers["Content-Type"] == "audio/ogg"
    assert body[:4] == b"OggS"
    status, headers, part = request(server, "GET", "/media/c0001.ogg", headers={"Range": "bytes=0-99"})
    assert status == 206
    assert part == body[:100]
    assert headers["Content-Range"] == f"bytes 0-99/{len(body)}"
    status, _, tail = request(server, "GET", "/media/c0001.ogg", headers={"Range": "bytes=-10"})
    assert (status, tail) == (206, body[-10:])
    status, _, _ = request(server, "GET", "/media/c0001.ogg", headers={"Range": f"bytes={len(body)}-"})
    assert status == 416
    status, _, empty = request(server, "HEAD", "/review.js")
    assert (status, empty) == (200, b"")


@pytest.mark.parametrize(
    "path",
    [
        "/../README.md",
        "/media/../../secret.txt",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E%2Fsecret.txt",
        "/..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
        "/%2Fetc%2Fpasswd",
        "/media%5c..%5c..%5csecret.txt",
        "/index.html%00.png",
        "/./index.html",
        "/C:/Windows/win.ini",
    ],
)
def test_traversal_is_refused(server, path):
    (server.root.parent / "secret.txt").write_text("secret", encoding="utf-8")
    status, _, body = request(server, "GET", path)
    # 403 for what the server sees as traversal; http.server itself folds a leading "//" to "/"
    assert status == (404 if path.startswith("//") else 403)
    assert b"secret" not in body
    assert b"root:" not in body


@pytest.mark.parametrize(
    "path", ["/%252e%252e/secret.txt", "/nothing.html", "/media", "/.label-edits.csv.lock"]
)
def test_unknown_or_hidden_paths_are_not_found(server, path):
    (server.root / ".label-edits.csv.lock").write_text("", encoding="utf-8")
    status, _, _ = request(server, "GET", path)
    assert status == 404


def test_symlinks_out_of_the_folder_are_not_followed(server, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    os.symlink(outside, server.root / "link.txt")
    os.symlink(tmp_path, server.root / "linkdir")
    for path in ("/link.txt", "/linkdir/outside.txt"):
        status, _, body = request(server, "GET", path)
        assert status == 404
        assert b"secret" not in body


def test_foreign_host_and_origin_are_refused(server):
    status, _, _ = request(server, "GET", "/", headers={"Host": "evil.example:80"})
    assert status == 403
    body = decision("k", ("1-17367-A", "Rain", "remove"))
    status, _, _ = request(
        server, "POST", "/api/decision", body=body, headers={"Origin": "http://evil.example"}
    )
    assert status == 403
    status, _, _ = request(server, "POST", "/api/decision", body=body, headers={"Content-Type": "text/plain"})
    assert status == 415
    assert not server.edits_path.exists()


def test_status_and_decisions_replace_their_earlier_edits(server):
    _, _, body = request(server, "GET", "/api/status")
    assert json.loads(body) == {"served": True, "file": "label-edits.csv", "count": 0}
    origin = {"Origin": f"http://127.0.0.1:{server.port}"}
    ok = request(
        server, "POST", "/api/decision", body=decision("a", ("1-17367-A", "Rain", "remove")), headers=origin
    )
    assert ok[0] == 200
    assert json.loads(ok[2]) == {"ok": True, "file": "label-edits.csv", "count": 1}
    request(server, "POST", "/api/decision", body=decision("b", ("1-100032-A", "Rooster", "add")))
    # card a changes its mind: the edit it wrote before goes, the new ones come last
    body = decision(
        "a",
        ("1-17367-A", "Rain", "add"),
        ("1-17367-A", "Dog bark", "remove"),
        previous=[("1-17367-A", "Rain", "remove")],
    )
    request(server, "POST", "/api/decision", body=body)
    assert [(e.clip, e.class_name, e.action) for e in read_edits(server.edits_path)] == [
        ("1-100032-A", "Rooster", "add"),
        ("1-17367-A", "Rain", "add"),
        ("1-17367-A", "Dog bark", "remove"),
    ]
    # withdrawn; an edit the file does not hold is not an error
    body = decision("b", previous=[("1-100032-A", "Rooster", "add"), ("1-21189-A", "Rain", "add")])
    request(server, "POST", "/api/decision", body=body)
    assert len(read_edits(server.edits_path)) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "Expecting value"),
        (json.dumps({"edits": []}), "a decision is"),
        (decision("k", ("nope", "Rain", "add")), "clip 'nope' is not on this review page"),
        (decision("k", ("1-17367-A", "Cat", "add")), "class 'Cat' is not in the vocabulary"),
        (decision("k", ("1-17367-A", "Rain", "upsert")), "unknown action 'upsert'"),
        (decision("k", ("1-17367-A", "Rain", "blacklist")), "blacklist excludes the whole clip"),
        (json.dumps({"key": "k", "edits": [{"clip": 1}]}), "object of strings"),
        (json.dumps({"key": "k", "previous": "x", "edits": []}), "previous must be a list"),
    ],
)
def test_bad_decisions_are_refused_with_the_reason(server, body, message):
    status, _, reply = request(server, "POST", "/api/decision", body=body)
    assert status == 400
    assert message in json.loads(reply)["error"]
    assert not server.edits_path.exists()


def test_quick_concurrent_decisions_lose_nothing(server):
    clips = ["1-17367-A", "1-100032-A", "1-110389-A", "1-21189-A"]
    barrier = threading.Barrier(len(clips))

    def click(clip):
        barrier.wait()
        request(server, "POST", "/api/decision", body=decision(clip, (clip, "Rooster", "add")))

    threads = [threading.Thread(target=click, args=(clip,)) for clip in clips]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(e.clip for e in read_edits(server.edits_path)) == sorted(clips)


def test_needs_a_built_folder_and_a_sound_edits_file(tmp_path, esc10_page):
    with pytest.raises(ReviewError, match="not a review folder"):
        ReviewServer(tmp_path, tmp_path / "e.csv", port=0)
    (tmp_path / "e.csv").write_text("clip,class\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no column 'action'"):
        ReviewServer(esc10_page, tmp_path / "e.csv", port=0)


def test_earlier_edits_in_the_file_are_kept(esc10_page):
    path = write_edits(esc10_page / "label-edits.csv", [LabelEdit("1-17367-A", "Rain", "add", who="earlier")])
    running = ReviewServer(esc10_page, path, port=0)
    thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        first = ("1-17367-A", "Rain", "add", "me", "", "2024-05-01T12:00:00Z")
        request(running, "POST", "/api/decision", body=decision("x", first))
        second = decision("x", ("1-17367-A", "Rain", "remove"), previous=[first])
        request(running, "POST", "/api/decision", body=second)
    finally:
        running.shutdown()
        running.server_close()
        thread.join(timeout=10)
    # the same edit written earlier by someone else is not the one taken out
    assert [(e.action, e.who) for e in read_edits(path)] == [("add", "earlier"), ("remove", "")]
