from __future__ import annotations

import json
import math
import re
import sys

import pytest
import soundfile
from review_helpers import HOSTILE_CLASS, HOSTILE_CLIP, make_tone_prepared, write_audit
from typer.testing import CliRunner

from earmark.cli import app
from earmark.data.edits import LabelEdit, write_edits
from earmark.review import ReviewError, build_review
from earmark.review.media import resolve_audio_path, spectrogram_png, write_snippet
from earmark.review.page import embed_json
from earmark.testing import write_tone


def embedded(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="review-data">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


@pytest.mark.realdata
def test_page_of_real_clips(esc10_page):
    files = sorted(p.name for p in esc10_page.iterdir())
    assert files == ["favicon.svg", "index.html", "media", "review.css", "review.js", "review.json"]
    html = (esc10_page / "index.html").read_text(encoding="utf-8")
    data = embedded(html)
    assert [item["rank"] for item in data["items"]] == [1, 2, 3, 4, 5, 6]
    assert data["classes"] == ["Dog bark", "Rain", "Helicopter", "Rooster"]
    assert data["who"] == "tester"
    rain = data["clips"]["1-17367-A"]
    assert rain["positive"] == ["Rain"]
    assert rain["negative"] == 3
    assert rain["fold"] == 1
    assert rain["path"] == "002 - Rain/1-17367-A.flac"  # shown relative to the audio root
    assert data["frequencyHz"] == [50.0, 8000.0]
    for clip in data["clips"].values():
        audio = esc10_page / clip["audio"]
        info = soundfile.info(str(audio))
        assert info.format == "OGG"
        assert info.duration == pytest.approx(clip["seconds"], abs=0.01)
        assert clip["seconds"] <= 10.0
        assert (esc10_page / clip["spectrogram"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((esc10_page / "review.json").read_text()) == data
    # each card carries its decisions' edits (earmark.review.decisions), the page only fills them in
    first, third = data["items"][0], data["items"][2]
    assert [(e["class"], e["action"]) for e in first["edits"]["accept"]] == [("Rain", "remove")]
    assert [(e["class"], e["action"]) for e in third["edits"]["reject"]] == [("Dog bark", "add")]
    assert first["edits"]["skip"] == []


def test_snippets_are_cut_and_transcoded(tmp_path):
    source = write_tone(tmp_path / "long.wav", duration_seconds=13.0, sample_rate=22050)
    snippet = write_snippet(source, tmp_path / "out" / "s.wav", max_seconds=4.0, audio_format="wav")
    info = soundfile.info(str(tmp_path / "out" / "s.wav"))
    assert (info.subtype, info.samplerate) == ("PCM_16", 22050)
    assert info.duration == pytest.approx(4.0, abs=1e-3)
    assert snippet.clip_seconds == pytest.approx(13.0, abs=1e-3)
    assert snippet.peak_dbfs == pytest.approx(20 * math.log10(0.3), abs=0.1)


def test_resolve_audio_path_finds_moved_files(tmp_path):
    moved = write_tone(tmp_path / "new" / "Dog" / "a.wav")
    assert resolve_audio_path(str(moved), None) == moved
    assert resolve_audio_path("/old/place/Dog/a.wav", tmp_path / "new") == moved
    assert resolve_audio_path("Dog/a.wav", tmp_path / "new") == moved
    assert resolve_audio_path("/old/place/Dog/b.wav", tmp_path / "new") is None
    assert resolve_audio_path("", tmp_path) is None


def test_spectrogram_png_size_and_bad_input(rng):
    png = spectrogram_png(rng.standard_normal((300, 64)), width_px=400, height_px=100)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 400
    assert int.from_bytes(png[20:24], "big") == 100
    with pytest.raises(ValueError, match=r"frames of shape \(0, 64\)"):
        spectrogram_png(rng.standard_normal((0, 64)))


def test_embedded_json_cannot_close_the_script():
    text = embed_json({"name": "</script><script>alert(1)</script><!-- & -->"})
    for character in "<>&":
        assert character not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script><!-- & -->"}


def test_hostile_names_stay_inside_the_data(tone_page):
    html = (tone_page / "index.html").read_text(encoding="utf-8")
    assert "<title>Review &lt;b&gt;bold&lt;/b&gt;</title>" in html
    assert HOSTILE_CLASS not in html
    assert html.count("<script") == 2  # the data element and review.js, nothing injected
    data = embedded(html)
    assert data["items"][0]["class"] == HOSTILE_CLASS
    assert data["items"][0]["clip"] == HOSTILE_CLIP
    assert sorted(p.name for p in (tone_page / "media").iterdir())[0] == "c0001.ogg"


@pytest.mark.realdata
def test_limit_unknown_clips_and_earlier_edits(esc10_small, esc10_audit, tmp_path):
    prepared, root = esc10_small
    rows = [
        [1, "gone-clip", "Rain", "remove", 0.99, "", "", ""],
        [2, "1-17367-A", "Rain", "remove", 0.9, "", "", ""],
        [3, "1-21189-A", "Rain", "remove", 0.8, "", "", ""],
    ]
    audit = write_audit(tmp_path / "audit.csv", rows)
    edits = write_edits(
        tmp_path / "edits.csv", [LabelEdit("1-17367-A", "Rain", "add", who="ana", why="sure")]
    )
    page = build_review(audit, prepared, tmp_path / "out", audio_root=root, limit=1, edits_path=edits)
    assert (page.num_items, page.num_clips) == (1, 1)
    assert "1 audit rows name clips that are not in the prepared data" in page.notes[0]
    assert "'gone-clip'" in page.notes[0]
    data = json.loads((page.directory / "review.json").read_text())
    assert data["clips"]["1-17367-A"]["earlier"] == [
        {"class": "Rain", "action": "add", "who": "ana", "why": "sure"}
    ]
    assert data["editsName"] == "edits.csv"
    # a rebuild with fewer clips leaves no stale media behind
    assert sorted(p.name for p in (page.directory / "media").iterdir()) == ["c0001.ogg", "c0001.png"]


@pytest.mark.realdata
def test_audit_of_other_data_is_refused(esc10_small, tmp_path):
    prepared, _ = esc10_small
    with pytest.raises(ReviewError, match=r"audit.csv, line 2: class 'Cat' is not in the vocabulary"):
        build_review(
            write_audit(tmp_path / "audit.csv", [[1, "1-17367-A", "Cat", "add", 1, "", "", ""]]),
            prepared,
            tmp_path / "o",
        )
    with pytest.raises(
        ReviewError, match=r"line 2: clip 'x' is not in the labels of .*nor is any other clip"
    ):
        build_review(
            write_audit(tmp_path / "audit.csv", [[1, "x", "Rain", "add", 1, "", "", ""]]),
            prepared,
            tmp_path / "o",
        )
    with pytest.raises(ReviewError, match="is not a prepared directory"):
        build_review(tmp_path / "audit.csv", tmp_path, tmp_path / "o")


def test_missing_audio_and_no_matplotlib_still_give_a_page(tmp_path, monkeypatch):
    prepared = make_tone_prepared(tmp_path)
    (tmp_path / "audio" / "tone-0.wav").unlink()
    audit = write_audit(tmp_path / "audit.csv", [[1, "tone-0", "Low tone", "remove", 0.5, "", "", ""]])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = build_review(audit, prepared, tmp_path / "review")
    data = json.loads((page.directory / "review.json").read_text())
    clip = data["clips"]["tone-0"]
    assert clip["audio"] is None
    assert clip["audioError"] == "audio file not found"
    assert clip["spectrogram"] is None
    assert any("matplotlib" in note for note in page.notes)
    assert any("tone-0" in note and "audio not found" in note for note in page.notes)


@pytest.mark.realdata
def test_cli_builds_the_page(esc10_small, esc10_audit, tmp_path):
    prepared, root = esc10_small
    out = tmp_path / "review"
    result = CliRunner().invoke(
        app,
        [
            *("review", str(esc10_audit), "--store", str(prepared), "--audio-root", str(root)),
            *("--out", str(out), "--limit", "3", "--who", "cli", "--audio-format", "wav"),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "3 cards" in result.output
    data = json.loads((out / "review.json").read_text())
    assert data["who"] == "cli"
    assert data["editsName"] == "label-edits.csv"
    assert all(clip["audio"].endswith(".wav") for clip in data["clips"].values())
    bad = CliRunner().invoke(
        app,
        ["review", str(esc10_audit), "--store", str(prepared), "--out", str(out), "--audio-format", "mp3"],
    )
    assert bad.exit_code != 0
    assert "--audio-format must be ogg or wav" in str(bad.exception)
