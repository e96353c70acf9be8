"""The one metric table: ``summarize``, ``scalar_metric`` and the report all iterate it."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
from hypothesis import assume, given, settings
from metric_cases import labels_and_scores

from earmark.metrics import (
    HEADLINE_METRICS,
    METRICS,
    MetricInfo,
    MetricValue,
    UndefinedMetricError,
    is_single_label,
    scalar_metric,
    summarize,
)
from earmark.report import markdown_summary, render_html


def scalar_or_none(name: str, y: np.ndarray, scores: np.ndarray, mask: np.ndarray | None) -> float | None:
    try:
        return scalar_metric(name)(y, scores, mask=mask)
    except UndefinedMetricError:
        return None


@settings(max_examples=40, deadline=None)
@given(labels_and_scores(with_mask=True))
def test_summarize_and_scalar_metric_give_the_same_numbers(case):
    y, scores, mask = case
    assume(mask.any())  # with no known entry at all, summarize refuses the input itself
    names = tuple(f"c{j}" for j in range(y.shape[1]))
    summary = summarize(y, scores, class_names=names, mask=mask)["summary"]
    expected = [name for name, info in METRICS.items() if not info.single_label]
    assert list(summary) == expected
    for name in expected:
        assert summary[name] == pytest.approx(scalar_or_none(name, y, scores, mask), abs=1e-12), name


def test_single_label_data_adds_accuracy_in_table_order(rng):
    truth = rng.integers(0, 4, 40)
    y = np.eye(4, dtype=bool)[truth]
    scores = rng.random((40, 4)) + y * 0.4
    assert is_single_label(y)
    metrics = summarize(y, scores, class_names=list("abcd"))
    assert list(metrics["summary"]) == list(METRICS)
    for name, value in metrics["summary"].items():
        assert value == pytest.approx(scalar_metric(name)(y, scores), abs=1e-12), name
    assert metrics["single_label"]["accuracy"] == metrics["summary"]["accuracy"]


def test_per_class_values_groups_and_intervals_follow_the_table(rng):
    y = rng.random((60, 5)) < 0.4
    y[:, 4] = False  # a class without positives: excluded where a metric needs positives
    scores = rng.random((60, 5)) + y * 0.3
    names = ("a", "b", "c", "d", "never")
    metrics = summarize(
        y,
        scores,
        class_names=names,
        class_to_group={"a": "g", "b": "g"},
        rng=np.random.default_rng(0),
        num_resamples=20,
    )
    keys = {info.per_class_key: info for info in METRICS.values() if info.per_class_key is not None}
    assert set(metrics["per_class"]) == set(keys)
    for key, info in keys.items():
        if key != "lwlrap":  # lwlrap weights classes by their positives; the rest are macro means
            assert metrics["per_class"][key]["macro"] == metrics["summary"][info.name]
        assert metrics["per_class"][key]["excluded"]["never"] == "no positives"
    assert set(metrics["per_class"]["lwlrap"]["weights"]) == set(names)
    grouped = {info.per_class_key for info in METRICS.values() if info.group_means}
    assert set(metrics["groups"]) == grouped | {"lwlrap_within_group"}
    assert tuple(metrics["intervals"]) == HEADLINE_METRICS == ("lwlrap", "ap_macro", "auc_macro")


def test_an_undefined_metric_is_none_with_its_reason(rng):
    y = np.ones((10, 3), dtype=bool)  # no negatives: AUC, AP and d' are undefined, lwlrap is 1
    metrics = summarize(y, rng.random((10, 3)), class_names=["a", "b", "c"])
    assert metrics["summary"]["lwlrap"] == 1.0
    for name in ("auc_macro", "auc_micro", "d_prime_macro", "d_prime_of_auc_macro", "ap_micro"):
        assert metrics["summary"][name] is None
        assert metrics["undefined"][name]
    with pytest.raises(UndefinedMetricError, match="no class can be scored"):
        scalar_metric("d_prime_of_auc_macro")(y, rng.random((10, 3)))


def test_the_table_is_consistent():
    assert all(name == info.name for name, info in METRICS.items())
    per_class_keys = [info.per_class_key for info in METRICS.values() if info.per_class_key]
    assert len(per_class_keys) == len(set(per_class_keys))
    displays = [info.display_name for info in METRICS.values()]
    assert len(displays) == len(set(displays))
    assert all(info.higher_is_better for info in METRICS.values())  # the trainer keeps the highest
    with pytest.raises(TypeError):
        METRICS["new"] = METRICS["lwlrap"]


def test_an_unknown_metric_name_lists_the_table():
    with pytest.raises(ValueError, match=r"unknown metric 'nope'; valid metrics: lwlrap, lrap, ap_macro"):
        scalar_metric("nope")


def test_a_new_table_entry_reaches_summarize_scalar_metric_and_the_report(monkeypatch, rng):
    """Adding a metric is one entry in the table; nothing else names it."""

    def positive_share(inputs):
        return MetricValue(float(np.asarray(inputs.positive).mean()))

    extra = MetricInfo("positive_share", "share of positive entries", positive_share)
    extended = types.MappingProxyType({**METRICS, extra.name: extra})
    for module in ("earmark.metrics.table", "earmark.metrics.summary", "earmark.report.pages"):
        monkeypatch.setattr(f"{module}.METRICS", extended)
    y = rng.random((30, 3)) < 0.3
    y[0] = True
    scores = rng.random((30, 3))
    metrics = summarize(y, scores, class_names=["a", "b", "c"])
    assert metrics["summary"]["positive_share"] == pytest.approx(y.mean())
    assert scalar_metric("positive_share")(y, scores) == pytest.approx(y.mean())
    assert "| share of positive entries | " in markdown_summary(metrics)
    assert "<td>share of positive entries</td>" in render_html(metrics, {})


def test_the_report_shows_every_metric_under_its_display_name(rng):
    y = rng.random((50, 4)) < 0.4
    scores = rng.random((50, 4)) + y * 0.2
    metrics = summarize(y, scores, class_names=list("abcd"))
    markdown, page = markdown_summary(metrics), render_html(metrics, {})
    for name, value in metrics["summary"].items():
        display = METRICS[name].display_name
        assert f"| {display} | {value:.4f} |" in markdown
        assert f"<td>{display}</td>" in page
    header = page.split('id="per-class"')[1].split("</thead>")[0]
    for info in METRICS.values():
        if info.per_class_key is not None:
            assert f"<th>{info.per_class_key}</th>" in header


def test_metric_info_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        METRICS["lwlrap"].display_name = "x"
