"""What a run reports about its predictions: headline metrics and the HTML report.

Both judge predictions on the entries of :meth:`earmark.data.labels.Labels.evaluation_mask`
(the one mask rule), so a run's ``summary.json``, its report and ``earmark evaluate`` agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from earmark.data.labels import Labels
from earmark.io import write_bytes_atomic
from earmark.metrics import is_single_label, scalar_metric
from earmark.predictions import Predictions

__all__ = ["headline_metrics", "write_run_report"]


def headline_metrics(labels: Labels, predictions: Predictions, metric: str) -> dict[str, float]:
    """``metric``, lwlrap, macro PR-AUC (and accuracy for single-label data) of ``predictions``.

    A headline metric undefined on these labels is left out, except ``metric`` itself (the one
    the run selects its checkpoint by): that raises ``ValueError`` naming it.
    """
    y, mask = labels.positive, labels.evaluation_mask()
    names = ["lwlrap", "ap_macro"] + (["accuracy"] if is_single_label(y, mask) else [])
    names = list(dict.fromkeys([metric, *names]))
    out: dict[str, float] = {}
    for name in names:
        try:
            out[name] = float(scalar_metric(name)(y, predictions.scores, mask=mask))
        except ValueError as error:
            if name == metric:
                raise ValueError(f"validation metric {name!r} is undefined here: {error}") from error
    return out


def write_run_report(
    run_dir: Path, rows: list[dict[str, Any]], metric: str, split: str | None, labels: Labels | None
) -> None:
    """``curves.png`` from the log ``rows`` and ``report/`` on ``split``'s saved predictions.

    Without matplotlib the curves are left out; without a split (no valid or test clips) only
    the curves are written.
    """
    from earmark.plots import PlotsUnavailable, training_curves_chart
    from earmark.report import evaluate, write_report

    figures: dict[str, bytes] = {}
    try:
        figures["Training curves"] = training_curves_chart(rows, metric)
        write_bytes_atomic(run_dir / "curves.png", figures["Training curves"])
    except (PlotsUnavailable, ValueError):
        figures = {}
    if split is None or labels is None:
        return
    predictions = Predictions.read(run_dir / "predictions" / f"{split}.npz")
    write_report(
        evaluate(predictions, labels),
        run_dir / "report",
        title=f"earmark run {run_dir.name}: {split} split",
        sources={"run": str(run_dir), "split": split},
        extra_figures=figures,
    )
