"""The review page in a real browser: headless Chromium through the system chromedriver."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from review_helpers import HOSTILE_CLASS, HOSTILE_CLIP, make_tone_prepared, write_audit

from earmark.data.edits import EDIT_COLUMNS, read_edits
from earmark.review import build_review

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

# what accepting cards 1 and 2 and rejecting card 3 of the ESC-10 audit must write
THREE_EDITS = [
    ("1-17367-A", "Rain", "remove"),  # rank 1: remove Rain, accepted
    ("1-100032-A", "Rooster", "add"),  # rank 2: add Rooster, accepted
    ("1-110389-A", "Dog bark", "add"),  # rank 3: remove Dog bark, rejected: the label is confirmed
]


def wait_for(condition, timeout=10.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {message}")


def open_page(browser, url):
    browser.get(url)
    wait_for(
        lambda: browser.execute_script("return document.querySelectorAll('.card').length"), message="cards"
    )


def press(browser, keys):
    from selenium.webdriver.common.action_chains import ActionChains

    for key in keys:
        ActionChains(browser).send_keys(key).perform()


def console_errors(browser):
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def exported(browser):
    """The rows of the CSV behind the 'Download edits' link, as a browser would save it."""
    text = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('export').href)"
        ".then(r => r.text()).then(done, e => done('ERROR ' + e));"
    )
    assert not text.startswith("ERROR"), text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == ",".join(EDIT_COLUMNS)
    return rows


def decisions(browser):
    return browser.execute_script(
        "return [...document.querySelectorAll('.card')].map(c => c.dataset.decision)"
    )


def text_of(browser, selector):
    return browser.execute_script(f"return document.querySelector({selector!r}).textContent")


def test_page_loads_without_console_errors(esc10_page, browser):
    open_page(browser, (esc10_page / "index.html").as_uri())
    assert browser.execute_script("return document.querySelectorAll('.card').length") == 6
    ranks = browser.execute_script("return [...document.querySelectorAll('.rank')].map(e => e.textContent)")
    assert ranks == ["#1", "#2", "#3", "#4", "#5", "#6"]
    assert text_of(browser, "#progress-text") == "0 of 6 decided"
    loaded = wait_for(
        lambda: browser.execute_script(
            "const images = [...document.querySelectorAll('.spectro img')];"
            "return images.length === 6 && images.every(i => i.complete && i.naturalWidth > 0);"
        ),
        message="spectrograms",
    )
    assert loaded
    page_text = browser.find_element("tag name", "body").text
    for shortcut in ("play / pause", "accept", "reject", "next", "previous"):
        assert shortcut in page_text
    assert console_errors(browser) == []


def test_audio_plays_and_reports_its_duration(esc10_page, browser):
    open_page(browser, (esc10_page / "index.html").as_uri())
    press(browser, " ")
    state = wait_for(
        lambda: browser.execute_script(
            "const a = document.querySelector('.card.current audio');"
            "return a.currentTime > 0.05 ? {duration: a.duration, paused: a.paused, error: a.error} : null;"
        ),
        message="the first card's audio to play",
    )
    assert state["error"] is None
    assert state["duration"] == pytest.approx(5.0, abs=0.05)  # ESC-10 clips are 5 s
    press(browser, " ")
    assert wait_for(
        lambda: browser.execute_script("return document.querySelector('.card.current audio').paused")
    )
    assert console_errors(browser) == []


def test_keyboard_decisions_export_and_survive_a_reload(esc10_page, browser, tmp_path):
    url = (esc10_page / "index.html").as_uri()
    open_page(browser, url)
    press(browser, "aar")
    assert decisions(browser)[:4] == ["accept", "accept", "reject", ""]
    assert text_of(browser, "#progress-text") == "3 of 6 decided"
    rows = exported(browser)
    assert [(r["clip"], r["class"], r["action"]) for r in rows] == THREE_EDITS
    assert {r["who"] for r in rows} == {"tester"}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["time"]) for r in rows)
    # the export is a label-edits file earmark reads
    saved = tmp_path / "export.csv"
    with open(saved, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, EDIT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    assert [(e.clip, e.class_name, e.action) for e in read_edits(saved)] == THREE_EDITS

    browser.refresh()
    open_page(browser, url)
    assert decisions(browser)[:4] == ["accept", "accept", "reject", ""]
    assert text_of(browser, "#progress-text") == "3 of 6 decided"
    assert exported(browser) == rows
    assert browser.execute_script("return document.querySelector('.card.current .rank').textContent") == "#4"
    assert console_errors(browser) == []


def test_other_label_undo_and_filters(esc10_page, browser):
    from selenium.webdriver.support.select import Select

    open_page(browser, (esc10_page / "index.html").as_uri())
    third = browser.find_elements("css selector", ".card")[2]
    Select(third.find_element("css selector", "select.choose")).select_by_visible_text("Helicopter")
    wait_for(lambda: decisions(browser)[2] == "other", message="the other-label decision")
    assert [(r["clip"], r["class"], r["action"]) for r in exported(browser)] == [
        ("1-110389-A", "Dog bark", "remove"),
        ("1-110389-A", "Helicopter", "add"),
    ]
    press(browser, "u")
    assert decisions(browser)[2] == ""
    assert exported(browser) == []
    Select(browser.find_element("id", "filter-kind")).select_by_value("blacklist")
    assert text_of(browser, "#shown") == "showing 1 of 6"
    Select(browser.find_element("id", "filter-kind")).select_by_value("")
    Select(browser.find_element("id", "filter-class")).select_by_visible_text("Dog bark")
    visible = browser.execute_script(
        "return [...document.querySelectorAll('.card:not([hidden]) .rank')].length"
    )
    assert visible == 2  # rank 3 and rank 6 are about Dog bark
    assert console_errors(browser) == []


def test_served_page_writes_each_decision_into_the_edits_file(server, browser):
    open_page(browser, server.url)
    wait_for(lambda: "saving to label-edits.csv" in text_of(browser, "#save-status"), message="the server")
    press(browser, "aar")

    def written():
        if not server.edits_path.exists():
            return None
        edits = read_edits(server.edits_path)
        return edits if len(edits) == 3 else None

    edits = wait_for(written, message="three edits in the file")
    assert [(e.clip, e.class_name, e.action) for e in edits] == THREE_EDITS
    rows = exported(browser)
    assert [(r["clip"], r["class"], r["action"], r["who"], r["time"]) for r in rows] == [
        (e.clip, e.class_name, e.action, e.who, e.time) for e in edits
    ]
    # back to the rejected card, undo it, then accept it: the file follows
    press(browser, "ku")
    wait_for(lambda: len(read_edits(server.edits_path)) == 2, message="the undo in the file")
    press(browser, "a")
    wait_for(lambda: len(read_edits(server.edits_path)) == 3, message="the new decision in the file")
    assert (read_edits(server.edits_path)[-1].class_name, read_edits(server.edits_path)[-1].action) == (
        "Dog bark",
        "remove",
    )
    wait_for(
        lambda: "saved to label-edits.csv (3 edits)" in text_of(browser, "#save-status"), message="status"
    )
    assert console_errors(browser) == []


def test_hostile_names_show_as_text_and_run_nothing(tone_page, browser):
    open_page(browser, (tone_page / "index.html").as_uri())
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.title == "Review <b>bold</b>"
    first = browser.find_elements("css selector", ".card")[0]
    assert first.find_element("css selector", ".badge .what").text == HOSTILE_CLASS
    assert first.find_element("css selector", ".clip-id").text == HOSTILE_CLIP
    images = browser.execute_script("return [...document.images].map(i => i.getAttribute('src'))")
    assert images == ["media/c0001.png", "media/c0002.png", "media/c0003.png"]
    assert browser.execute_script("return document.scripts.length") == 2
    press(browser, "a")
    row = exported(browser)[0]
    assert (row["clip"], row["class"], row["action"]) == (HOSTILE_CLIP, HOSTILE_CLASS, "add")
    assert browser.execute_script("return window.pwned === undefined")
    assert console_errors(browser) == []


def test_an_empty_audit_gives_a_calm_page(browser, tmp_path):
    prepared = make_tone_prepared(tmp_path)
    page = build_review(write_audit(tmp_path / "audit.csv", []), prepared, tmp_path / "review")
    browser.get(page.html.as_uri())
    wait_for(lambda: text_of(browser, "#progress-text") == "0 of 0 decided", message="the page")
    assert browser.find_element("id", "empty").text == "Nothing to review: the audit flags no item."
    assert exported(browser) == []
    press(browser, "ajr ")
    assert console_errors(browser) == []


def test_screenshot(esc10_page, browser, tmp_path):
    """A screenshot of a review in progress; EARMARK_REVIEW_SCREENSHOT=path keeps a copy."""
    open_page(browser, (esc10_page / "index.html").as_uri())
    browser.set_window_size(1280, 1040)
    wait_for(
        lambda: browser.execute_script(
            "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"
        ),
        message="images",
    )
    press(browser, "ar")
    press(browser, "kk")
    browser.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    shot = tmp_path / "review.png"
    assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, browser.execute_script("return window.innerHeight"))
    keep = os.environ.get("EARMARK_REVIEW_SCREENSHOT")
    if keep:
        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        try:  # a palette image is a third of the size and looks the same
            from PIL import Image

            with Image.open(shot) as image:
                image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
                    keep, optimize=True
                )
        except ImportError:
            shutil.copy(shot, keep)
