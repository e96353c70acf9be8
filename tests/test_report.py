from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from earmark.data.labels import Labels
from earmark.metrics import (
    average_precision_per_class,
    lwlrap,
    read_group_map,
    roc_auc_macro,
    summarize,
)
from earmark.predictions import Predictions
from earmark.report import evaluate, write_report

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTRIBUTE = "<img src=x onerror=\"document.body.setAttribute('data-xss', '1')\">"
CLASSES = ("dog", "cat & mouse", XSS_SCRIPT, XSS_ATTRIBUTE, "$\\frac{", "never")


def no_nan(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"metrics.json holds {constant}")

    return json.loads(text, parse_constant=refuse)


def multi_label(rng: np.random.Generator, n: int = 80) -> tuple[Labels, Predictions]:
    positive = rng.random((n, len(CLASSES))) < 0.3
    positive[:, -1] = False  # "never" has no positive: excluded, reported
    clip_ids = [f"clip{i:03d}" for i in range(n)]
    lists = [[CLASSES[j] for j in np.flatnonzero(row)] for row in positive]
    labels = Labels.from_lists(clip_ids, lists, CLASSES)
    scores = rng.random(positive.shape) + positive * rng.uniform(0.1, 0.8, len(CLASSES))
    return labels, Predictions(np.array(clip_ids, dtype=object), CLASSES, scores)


def test_report_files_hold_the_metrics(tmp_path, rng):
    labels, predictions = multi_label(rng)
    evaluation = evaluate(predictions, labels, num_resamples=30, rng=np.random.default_rng(0))
    files = write_report(evaluation, tmp_path / "report", sources={"predictions": "p.npz"})
    metrics = no_nan(files.metrics_json.read_text())
    y, scores = labels.positive, predictions.scores
    assert metrics["summary"]["lwlrap"] == pytest.approx(lwlrap(y, scores))
    assert metrics["summary"]["auc_macro"] == pytest.approx(roc_auc_macro(y, scores))
    ap = average_precision_per_class(y, scores, class_names=CLASSES)
    assert metrics["per_class"]["average_precision"]["per_class"]["dog"] == pytest.approx(ap.values[0])
    assert metrics["per_class"]["average_precision"]["excluded"] == {"never": "no positives"}
    assert metrics["per_class"]["average_precision"]["per_class"]["never"] is None
    interval = metrics["intervals"]["lwlrap"]
    assert interval["low"] <= metrics["summary"]["lwlrap"] <= interval["high"]
    assert metrics["inputs"]["files"] == {"predictions": "p.npz"}
    assert "single_label" not in metrics
    assert set(files.plots) == {"Per-class average precision", "Precision-recall curves"}
    for path in files.plots.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = files.summary_markdown.read_text()
    assert re.search(r"\| lwlrap \| 0\.\d{4} \| \[0\.\d{4}, 0\.\d{4}\] \|", markdown)
    assert "- never: no positives" in markdown
    page = files.html.read_text()
    assert XSS_SCRIPT not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("data:image/png;base64,") == 2


def test_the_mask_modes_choose_the_entries_that_count(rng):
    labels, predictions = multi_label(rng)
    annotated = labels.annotated.copy()
    annotated[::3, 0] = labels.positive[::3, 0]  # some negatives of "dog" become missing
    partial = labels.with_matrices(annotated=annotated)
    auto = evaluate(predictions, partial).metrics
    masked = evaluate(predictions, partial, mask="on").metrics
    plain = evaluate(predictions, partial, mask="off").metrics
    expected = lwlrap(labels.positive, predictions.scores, mask=annotated)
    assert masked["summary"]["lwlrap"] == pytest.approx(expected)
    assert auto["summary"] == masked["summary"]  # partly annotated: auto leaves missing entries out
    assert plain["summary"]["lwlrap"] == pytest.approx(lwlrap(labels.positive, predictions.scores))
    assert plain["summary"]["lwlrap"] != pytest.approx(expected)
    assert masked["inputs"]["missing_entries"] == int((~annotated).sum()) > 0
    assert masked["inputs"]["missing_entries_are"] == "left out (masked)"
    assert plain["inputs"]["missing_entries_are"] == "negatives"
    assert masked["counts"]["num_known_entries"] == int(annotated.sum())


def test_auto_counts_missing_entries_of_positives_only_labels_as_negatives(rng):
    labels, predictions = multi_label(rng)
    positives_only = labels.with_matrices(annotated=labels.positive)
    assert positives_only.positives_only
    auto = evaluate(predictions, positives_only).metrics
    assert auto["summary"] == evaluate(predictions, labels, mask="off").metrics["summary"]
    assert auto["inputs"]["missing_entries_are"] == "negatives"
    with pytest.raises(ValueError, match=r"unknown mask mode 'maybe'; valid modes: auto, on, off"):
        evaluate(predictions, labels, mask="maybe")


def test_single_label_report_has_accuracy_and_confusion_matrix(tmp_path, rng):
    classes = ("a", "b", "c")
    truth = rng.integers(0, 3, 60)
    clip_ids = [f"c{i}" for i in range(60)]
    labels = Labels.from_lists(clip_ids, [[classes[t]] for t in truth], classes)
    scores = rng.random((60, 3)) + np.eye(3)[truth] * 0.5
    evaluation = evaluate(Predictions(np.array(clip_ids, dtype=object), classes, scores), labels)
    files = write_report(evaluation, tmp_path)
    metrics = no_nan(files.metrics_json.read_text())
    matrix = np.array(metrics["single_label"]["confusion_matrix"])
    assert matrix.sum() == 60
    assert metrics["summary"]["accuracy"] == pytest.approx(np.trace(matrix) / 60)
    assert metrics["single_label"]["top_k_accuracy"]["3"] == 1.0
    assert "Confusion matrix" in files.plots


def test_groups_and_a_predicted_subset(tmp_path, rng):
    labels, predictions = multi_label(rng)
    group_file = tmp_path / "groups.csv"
    group_file.write_text("class,group\ndog,animal\ncat & mouse,animal\nnever,other\n")
    groups = read_group_map(group_file)
    half = predictions.take(np.arange(0, 80, 2))
    metrics = evaluate(half, labels, class_to_group=groups).metrics
    assert metrics["counts"]["num_clips"] == 40
    assert metrics["inputs"]["num_labeled_clips"] == 80
    selected = labels.take(np.arange(0, 80, 2))
    ap = average_precision_per_class(selected.positive, half.scores, class_names=CLASSES)
    animal = metrics["groups"]["average_precision"]["animal"]
    assert animal["value"] == pytest.approx(ap.values[:2].mean())
    assert metrics["groups"]["average_precision"]["other"]["value"] is None
    assert metrics["groups"]["lwlrap_within_group"]["other"] is None


def test_summary_never_holds_nan_when_nothing_is_scoreable():
    metrics = summarize(np.zeros((4, 3), bool), np.zeros((4, 3)), class_names=["a", "b", "c"])
    assert metrics["summary"]["lwlrap"] is None
    assert "no clip has a known positive" in metrics["undefined"]["lwlrap"]
    assert metrics["summary"]["ap_macro"] is None
    no_nan(json.dumps(metrics, allow_nan=False))


def test_report_without_matplotlib_skips_plots(tmp_path, rng, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    labels, predictions = multi_label(rng, n=30)
    files = write_report(evaluate(predictions, labels), tmp_path)
    assert files.plots == {}
    assert "matplotlib" in no_nan(files.metrics_json.read_text())["plots_skipped"]
    assert "data:image/png" not in files.html.read_text()


def chromium_dom(page, profile) -> tuple[str, str]:
    """The rendered DOM of ``page`` and Chromium's log (console messages included)."""
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not on PATH (Debian: apt-get install chromium)")
    profile.mkdir()
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        page.as_uri(),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        dom, log = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the browser and the helpers it started
        process.communicate()
        pytest.fail("Chromium did not finish within 60 s: a script dialog (an injected alert?) blocks it")
    assert process.returncode == 0, log[-2000:]
    return dom, log


def test_html_report_renders_in_headless_chromium(tmp_path, rng):
    labels, predictions = multi_label(rng)
    files = write_report(evaluate(predictions, labels), tmp_path / "report", title="Run <b>A</b>")
    dom, log = chromium_dom(files.html, tmp_path / "profile")
    assert "<h2>Summary</h2>" in dom
    assert "<h2>Per class</h2>" in dom
    assert "<title>Run &lt;b&gt;A&lt;/b&gt;</title>" in dom
    # the hostile class names are text: escaped in the DOM, no script element, no handler ran
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "<script" not in dom
    assert "data-xss" not in dom.split("<body", 1)[1].split(">", 1)[0]
    assert "&lt;img src=x onerror=" in dom
    assert dom.count('src="data:image/png;base64,') == 2
    console = [line for line in log.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
