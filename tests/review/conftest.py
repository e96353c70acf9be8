"""Fixtures of the review-page tests: prepared data (real ESC-10 clips, synthetic tones), audits,
built pages, a running server and a headless Chromium driven through its system chromedriver."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from review_helpers import (
    CHROMEDRIVER,
    CHROMIUM,
    ESC10_CLIPS,
    HOSTILE_CLASS,
    HOSTILE_CLIP,
    make_tone_prepared,
    write_audit,
)

from earmark.data.loaders import load_dataset
from earmark.features.logmel import LogMelConfig
from earmark.prepare import prepare
from earmark.review import ReviewServer, build_review


@pytest.fixture(scope="session")
def esc10_small(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A prepared directory of six real ESC-10 clips (three classes of the ten folders) and its audio root."""
    source = shared_data / "esc10" / "audio"
    if not source.is_dir():
        pytest.skip(f"ESC-10 audio not found at {source}")
    base = tmp_path_factory.mktemp("esc10_small")
    root = base / "audio"
    for folder, stem in ESC10_CLIPS:
        files = sorted((source / folder).glob("*.flac"))
        chosen = next(f for f in files if f.stem == stem) if stem else files[0]
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(chosen, root / folder / chosen.name)
    manifest = load_dataset("folder", {"root": str(root), "fold_pattern": r"^(\d+)-"})
    prepare(manifest, base / "prepared", LogMelConfig())
    return base / "prepared", root


@pytest.fixture(scope="session")
def esc10_audit(esc10_small: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audit over the real clips in the contract's format: remove, add and blacklist rows."""
    prepared, _ = esc10_small
    clips = {row.split(",")[0] for row in (prepared / "labels.csv").read_text().splitlines()[1:]}
    others = sorted(c for c in clips if c not in {"1-100032-A", "1-110389-A", "1-17367-A", "1-21189-A"})
    rows: list[list[object]] = [
        [1, "1-17367-A", "Rain", "remove", 0.97, 1, 0.03, "Helicopter=0.81;Rain=0.03;Dog bark=0.01"],
        [2, "1-100032-A", "Rooster", "add", 0.91, 1, 0.91, "Rooster=0.91;Dog bark=0.42"],
        [3, "1-110389-A", "Dog bark", "remove", 0.88, 2, 0.12, "Baby cry=0.70;Dog bark=0.12"],
        [4, others[0], "", "blacklist", 0.80, "", "", ""],
        [5, "1-21189-A", "Helicopter", "add", 0.64, 1, 0.64, "Helicopter=0.64;Rain=0.30"],
        [6, others[1], "Dog bark", "add", 0.41, 1, 0.41, "Rooster=0.55;Dog bark=0.41"],
    ]
    return write_audit(tmp_path_factory.mktemp("audit") / "audit.csv", rows)


@pytest.fixture(scope="session")
def esc10_built(
    esc10_small: tuple[Path, Path], esc10_audit: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The review page of ``esc10_audit``, built once."""
    prepared, root = esc10_small
    out = tmp_path_factory.mktemp("esc10_review") / "review"
    return build_review(esc10_audit, prepared, out, audio_root=root, who="tester").directory


@pytest.fixture
def esc10_page(esc10_built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built ESC-10 review page (tests may write into it)."""
    return Path(shutil.copytree(esc10_built, tmp_path / "review"))


@pytest.fixture
def tone_page(tmp_path: Path) -> Path:
    """The review page of an audit of hostile names over synthetic tones."""
    prepared = make_tone_prepared(tmp_path)
    rows: list[list[object]] = [
        [1, HOSTILE_CLIP, HOSTILE_CLASS, "add", 0.9, 1, 0.9, f"{HOSTILE_CLASS}=0.9;Low tone=0.1"],
        [2, "tone-1", HOSTILE_CLASS, "remove", 0.8, 1, 0.2, "Low tone=0.7"],
        [3, "tone-2", "", "blacklist", 0.7, "", "", ""],
    ]
    audit = write_audit(tmp_path / "audit.csv", rows)
    return build_review(audit, prepared, tmp_path / "review", title="Review <b>bold</b>").directory


@contextmanager
def _serving(page: Path) -> Iterator[ReviewServer]:
    """A review server on a free port over ``page``, decisions into its label-edits.csv; stopped after."""
    running = ReviewServer(page, page / "label-edits.csv", port=0)
    thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.shutdown()
        running.server_close()
        thread.join(timeout=10)


@pytest.fixture
def server(esc10_page: Path) -> Iterator[ReviewServer]:
    """A review server over ``esc10_page``, stopped after the test."""
    with _serving(esc10_page) as running:
        yield running


@pytest.fixture
def tone_server(tone_page: Path) -> Iterator[ReviewServer]:
    """A review server over ``tone_page`` (synthetic tones, no real data needed)."""
    with _serving(tone_page) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Headless Chromium through the system chromedriver (never one selenium would download)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent (Debian: apt-get install chromium)")
    if not CHROMEDRIVER.is_file():
        pytest.skip(f"{CHROMEDRIVER} is absent (Debian: apt-get install chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
