"""Helpers of the review-page tests: audit files and a prepared directory of hostile names."""

from __future__ import annotations

import csv
import http.client
from pathlib import Path
from typing import Any

from earmark.data.labels import Labels
from earmark.data.manifest import Manifest
from earmark.features.logmel import LogMelConfig
from earmark.prepare import prepare
from earmark.testing import write_tone

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AUDIT_HEADER = ["rank", "clip", "class", "suggestion", "score", "class_rank", "model_score", "top", "extra"]
HOSTILE_CLASS = "<img src=x onerror=window.pwned=1>"
HOSTILE_CLIP = "clip</script><script>window.pwned=2</script>"

# (folder, clip stem) of the real ESC-10 clips the tests review
ESC10_CLIPS = [
    ("001 - Dog bark", "1-100032-A"),
    ("001 - Dog bark", "1-110389-A"),
    ("002 - Rain", "1-17367-A"),
    ("002 - Rain", "1-21189-A"),
    ("009 - Rooster", None),
    ("007 - Helicopter", None),
]


def write_audit(path: Path, rows: list[list[object]]) -> Path:
    """Write an audit CSV with the contract's columns (plus an unknown one the reader ignores)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(AUDIT_HEADER)
        for row in rows:
            writer.writerow([*row, "ignored"])
    return path


def make_tone_prepared(base: Path) -> Path:
    """A prepared directory of synthetic tones whose class names and one clip id are hostile."""
    classes = ["Low tone", HOSTILE_CLASS, 'quote " and, comma']
    clips, paths, positives = [], [], []
    for i in range(4):
        clip = HOSTILE_CLIP if i == 3 else f"tone-{i}"
        path = write_tone(
            base / "audio" / f"tone-{i}.wav", frequency_hz=220.0 * (i + 1), duration_seconds=1.5
        )
        clips.append(clip)
        paths.append(path)
        positives.append([classes[i % 3]])
    labels = Labels.from_lists(clips, positives, classes, fold=[1, 1, 2, 2])
    prepare(Manifest.single_split(labels, paths), base / "prepared", LogMelConfig(n_mels=32))
    return base / "prepared"


def request(
    server: Any,
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of one request to ``server``, with its own ``Host``."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        sent = {"Host": f"127.0.0.1:{server.port}", **(headers or {})}
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
            sent.setdefault("Content-Length", str(len(body)))
        for name, value in sent.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()
