"""How a run scores and judges its clips: the evaluator, headline metrics and the HTML report.

:class:`Evaluator` scores clips with the run's segmenting; under DDP each rank scores its share
and every rank gets all scores in clip order. Metrics and the report judge predictions on the
entries of :meth:`earmark.data.labels.Labels.evaluation_mask`
(the one mask rule), so a run's ``summary.json``, its report and ``earmark evaluate`` agree.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from earmark.data.labels import Labels
from earmark.inference import Segmenting
from earmark.io import write_bytes_atomic
from earmark.metrics import is_single_label, scalar_metric
from earmark.predictions import Predictions
from earmark.spec import TaggingSpec
from earmark.training.data import StoreSet
from earmark.training.distributed import DistributedContext, gather_shards, shard

__all__ = ["Evaluator", "headline_metrics", "write_run_report"]


@dataclasses.dataclass(frozen=True)
class Evaluator:
    """Scores a run's clips with its segmenting and judges them by its metric."""

    stores: StoreSet
    spec: TaggingSpec
    segmenting: Segmenting
    metric: str
    context: DistributedContext

    def score(self, model: nn.Module, labels: Labels, segmenting: Segmenting) -> np.ndarray:
        """``model``'s clip probabilities ``(clips, classes)`` for ``labels``' clips, on this rank."""
        device = self.context.device
        clips = (self.stores[c] for c in labels.clip_ids.tolist())
        return segmenting.score(model.to(device), clips, device=device)

    def predict(self, labels: Labels, model: nn.Module) -> Predictions:
        """Clip scores of ``labels``' clips; under DDP a collective (each rank scores its share)."""
        rows = np.arange(labels.num_clips)[
            shard(labels.num_clips, rank=self.context.rank, world_size=self.context.world_size)
        ]
        if len(rows):
            scores = self.score(model, labels.take(rows), self.segmenting)
        else:  # fewer clips than ranks
            scores = np.zeros((0, self.spec.num_classes), dtype=np.float32)
        scores = gather_shards(scores, labels.num_clips, self.context)
        return Predictions.from_spec(self.spec, labels.clip_ids, scores)

    def evaluate(self, labels: Labels, predictions: Predictions) -> dict[str, float]:
        """Headline metrics of ``predictions`` (:func:`headline_metrics`)."""
        return headline_metrics(labels, predictions, self.metric)

    def judge(
        self, labels: Labels, model: nn.Module, others: Mapping[str, nn.Module]
    ) -> tuple[Predictions, dict[str, float], dict[str, dict[str, float]]]:
        """``model``'s predictions and metrics on ``labels``, and the metrics of ``others``."""
        predictions = self.predict(labels, model)
        reported = {
            name: self.evaluate(labels, self.predict(labels, other)) for name, other in others.items()
        }
        return predictions, self.evaluate(labels, predictions), reported


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
    the curves are written. The other models the run reports (``summary.json``'s ``reported``:
    the Mean Teacher student beside its teacher) are shown after the summary.
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
    summary = run_dir / "summary.json"
    reported = (
        json.loads(summary.read_text(encoding="utf-8")).get("reported", {}) if summary.is_file() else {}
    )
    write_report(
        evaluate(predictions, labels),
        run_dir / "report",
        title=f"earmark run {run_dir.name}: {split} split",
        sources={"run": str(run_dir), "split": split},
        extra_figures=figures,
        other_models={name: splits[split] for name, splits in reported.items() if split in splits},
    )
