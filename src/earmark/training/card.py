"""The model card of a run: ``MODEL_CARD.md``, generated from the run's own files, never by hand.

Everything it says is read from the run: its resolved config (data, model, strategy and their
options), its spec (classes, front-end and hash), its checkpoint (parameters), its label table
and splits (clips and positives per class, missing entries, sources), its ``summary.json`` and
prediction files (validation and test figures, with bootstrap intervals computed here) and its
tuned ``thresholds.json`` when there is one. The Trainer writes it at the end of every run;
``earmark export`` writes it beside every export; :func:`write_model_card` regenerates it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from earmark.data.labels import Labels
from earmark.io import write_text_atomic
from earmark.predictions import Predictions
from earmark.training.runs import LoadedRun, load_run
from earmark.training.selection import open_prepared, select_splits

__all__ = ["CARD_FILE", "model_card", "write_model_card"]

CARD_FILE = "MODEL_CARD.md"
#: bootstrap resamples behind the intervals of the card's figures
RESAMPLES = 200
#: classes with fewer training positives than this are named under the known limits
FEW_POSITIVES = 5


def _cell(value: Any) -> str:
    text = f"{value:.4f}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _options(options: Mapping[str, Any]) -> str:
    return ", ".join(f"`{k}: {json.dumps(v, default=str)}`" for k, v in options.items()) or "defaults"


def _as_dict(options: Any) -> dict[str, Any]:
    """A config's options as a plain mapping (a dataclass or a mapping)."""
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        return dataclasses.asdict(options)
    return dict(options or {})


def _splits(loaded: LoadedRun) -> dict[str, Labels] | None:
    try:
        _, labels = open_prepared(loaded.config.data)
        return select_splits(labels, loaded.config.data, seed=loaded.config.seed)
    except (OSError, ValueError):
        return None  # the prepared data moved or is gone: the card says so


def _data_section(loaded: LoadedRun, splits: Mapping[str, Labels] | None) -> list[str]:
    data = loaded.config.data
    lines = ["## Data", ""]
    lines.append(f"- prepared data: `{data.prepared}`" + (f", labels `{data.labels}`" if data.labels else ""))
    folds = {"train": data.train_folds, "valid": data.valid_folds, "test": data.test_folds}
    described = ", ".join(f"{k} {list(v)}" for k, v in folds.items() if v) or "no folds chosen"
    lines.append(
        f"- folds: {described}"
        + (f"; validation: {data.valid_fraction:.0%} held out" if data.valid_fraction else "")
    )
    if splits is None:
        lines += ["- the prepared data is no longer where the run found it: per-split counts unavailable", ""]
        return lines
    lines.append("- clips: " + ", ".join(f"{name} {labels.num_clips}" for name, labels in splits.items()))
    train = splits["train"]
    summary = train.summary()
    sources = ", ".join(f"{k} {v}" for k, v in summary.clips_per_source.items())
    lines.append(f"- training clips by source: {sources}")
    lines.append(
        f"- training labels: {summary.label_density:.2f} positives per clip, "
        f"{summary.fraction_missing:.1%} of entries missing (not annotated)"
        + ("; positives only (every unlabeled entry is missing)" if train.positives_only else "")
    )
    lines.append("")
    return lines


def _classes_section(loaded: LoadedRun, splits: Mapping[str, Labels] | None) -> list[str]:
    names = loaded.spec.class_names
    lines = [f"## Classes ({len(names)})", ""]
    if splits is None:
        return [*lines, ", ".join(names), ""]
    header = ["class", *(f"{split} positives" for split in splits)]
    counts = {split: labels.positive.sum(axis=0) for split, labels in splits.items()}
    rows = [[name, *(int(counts[split][k]) for split in splits)] for k, name in enumerate(names)]
    return [*lines, *_table(header, rows), ""]


def _model_section(loaded: LoadedRun) -> list[str]:
    config, spec = loaded.config, loaded.spec
    parameters = sum(p.numel() for p in loaded.model.parameters())
    frontend = spec.frontend.to_config_dict()
    seg = loaded.segmenting
    lines = ["## Front-end and model", ""]
    lines.append(f"- front-end: `{frontend.pop('name')}` ({_options(frontend)}); hash `{spec.frontend_hash}`")
    lines.append(f"- sample rate: {spec.sample_rate} Hz")
    lines.append(
        f"- model: `{config.model}`, {parameters:,} parameters "
        f"({loaded.checkpoint.stat().st_size / 2**20:.1f} MiB checkpoint `{loaded.checkpoint.name}`); "
        f"options {_options(_as_dict(config.model_options))}"
    )
    lines.append(
        f"- segments: {seg.segment_frames} frames every {seg.hop_frames} frames, coverage `{seg.coverage}`, "
        f"clip score = `{seg.aggregate}` over segments, probabilities by a `{seg.activation}`"
        + (" over the classes (one class per clip)" if seg.activation == "softmax" else " per class")
    )
    lines.append("")
    return lines


def _training_section(loaded: LoadedRun, splits: Mapping[str, Labels] | None) -> list[str]:
    from earmark.strategies import STRATEGIES

    config = loaded.config
    options = _as_dict(config.strategy_options)
    lines = ["## Training and the label imperfection handled", ""]
    lines.append(f"- strategy: `{config.strategy}`: {STRATEGIES.entry(config.strategy).summary}")
    lines.append(f"- strategy options: {_options(options)}")
    augment = config.augment if isinstance(config.augment, Mapping) else {}
    lines.append(f"- augmentations: {', '.join(f'`{name}`' for name in augment) or 'none'}")
    if loaded.checkpoint.name == "best.pt":
        kept = f"best checkpoint by validation `{config.metric}`"
    else:
        kept = "the weights at the end of training (no validation split)"
    lines.append(
        f"- schedule: {config.epochs} epochs, batch {config.batch_size}, `{config.optim.name}` "
        f"lr {config.optim.lr:g}, {kept}; seed {config.seed}"
    )
    if config.ema_decay is not None:
        decay = f"{config.ema_decay:g}"
        lines.append(f"- weights: an exponential moving average of the trained weights (decay {decay})")
    if config.init_from:
        lines.append(f"- initialised from run `{config.init_from}`")
    if splits is not None:
        train = splits["train"]
        missing = float(train.missing.mean()) if train.positive.size else 0.0
        noisy = int((train.source == "noisy").sum())
        handled = []
        if missing > 0:
            how = options.get("missing")
            handled.append(
                f"{missing:.1%} of training entries are missing; the strategy treats them "
                + (f"as `missing: {how}`" if how else "as its summary above says")
            )
        if noisy:
            handled.append(f"{noisy} training clips come from a noisy source")
        if options.get("enhance"):
            handled.append(f"label enhancement: {_options(dict(options['enhance']))}")
        lines.append(
            "- label imperfection: "
            + ("; ".join(handled) if handled else "none recorded (complete, curated labels)")
        )
    lines.append("")
    return lines


def _figures_section(run: Path, splits: Mapping[str, Labels] | None) -> list[str]:
    from earmark.metrics import HEADLINE_METRICS
    from earmark.report import evaluate

    lines = ["## Validation and test figures", ""]
    summary_path = run / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    rows = []
    for split in ("valid", "test"):
        path = run / "predictions" / f"{split}.npz"
        if split not in summary:
            continue
        intervals: dict[str, Any] = {}
        if path.is_file() and splits is not None and split in splits:
            evaluation = evaluate(
                Predictions.read(path), splits[split], num_resamples=RESAMPLES, rng=np.random.default_rng(0)
            )
            intervals = evaluation.metrics.get("intervals", {})
        for name, value in summary[split].items():
            interval = intervals.get(name)
            shown = f"[{interval['low']:.4f}, {interval['high']:.4f}]" if interval else "-"
            rows.append([split, name, float(value), shown, summary.get("clips", {}).get(split, "")])
    if not rows:
        return [*lines, "No validation or test split: this run has no held-out figures.", ""]
    lines += _table(
        ["split", "metric", "value", f"95 % bootstrap interval ({RESAMPLES} resamples)", "clips"], rows
    )
    lines.append("")
    headline = ", ".join(HEADLINE_METRICS)
    lines.append(
        f"Intervals are drawn for the headline metrics ({headline}) when the split's labels are at hand: "
        "percentiles over clips resampled with replacement; a class without positives in a resample "
        "drops out of the macro figures, so with rare classes an interval can miss the value."
    )
    thresholds = run / "thresholds.json"
    if thresholds.is_file():
        tuned = json.loads(thresholds.read_text(encoding="utf-8"))
        figures = tuned.get("figures", {})
        lines.append(
            "\nPer-class thresholds (`thresholds.json`) were tuned on the "
            f"`{tuned.get('split', '?')}` split: "
            f"macro-F1 there {figures.get('f1_macro_at_0.5', float('nan')):.4f} at 0.5, "
            f"{figures.get('f1_macro_tuned', float('nan')):.4f} tuned; `earmark predict` uses them."
        )
    lines.append("")
    return lines


def _use_section(loaded: LoadedRun, splits: Mapping[str, Labels] | None) -> list[str]:
    spec, seg = loaded.spec, loaded.segmenting
    lines = ["## Intended use and known limits", ""]
    kind = "single-label scores summing to one" if seg.activation == "softmax" else "multi-label scores"
    lines.append(
        f"- Intended use: tagging audio with these {spec.num_classes} classes ({kind} per clip "
        "or per segment) with `earmark predict` or `earmark.load_run`; audio is resampled to "
        f"{spec.sample_rate} Hz and must go through the front-end above (hash `{spec.frontend_hash}`)."
    )
    lines.append(
        "- Sounds outside these classes get no tag of their own; their scores on these classes are untested."
    )
    if seg.coverage == "head":
        lines.append("- Only the start of each clip is scored (coverage `head`): later sounds do not count.")
    if splits is not None:
        counts = splits["train"].positive.sum(axis=0)
        few = [n for n, c in zip(spec.class_names, counts.tolist(), strict=True) if c < FEW_POSITIVES]
        if few:
            shown = "; ".join(few[:20]) + (f" and {len(few) - 20} more" if len(few) > 20 else "")
            lines.append(f"- {len(few)} classes have fewer than {FEW_POSITIVES} training positives: {shown}.")
        if "test" not in splits:
            lines.append("- No test split was held out: the figures above are not an unbiased estimate.")
        else:
            lines.append(
                f"- The test figures come from {splits['test'].num_clips} clips of the same data set; "
                "other recordings, devices or label conventions may score differently."
            )
    lines.append("")
    return lines


def model_card(run: str | Path, *, splits: Mapping[str, Labels] | None = None) -> str:
    """The Markdown model card of run directory ``run``.

    ``splits`` are the run's labels per split when the caller has them (the Trainer);
    otherwise they are selected again from the run's config.
    """
    run = Path(run)
    loaded = load_run(run)
    splits = splits if splits is not None else _splits(loaded)
    lines = [
        f"# Model card: `{run.name}`",
        "",
        "Generated by earmark from the run's files (config, spec, checkpoint, labels, predictions); "
        "regenerate it rather than editing it.",
        "",
    ]
    for section in (_data_section, _classes_section):
        lines += section(loaded, splits)
    lines += _model_section(loaded)
    lines += _training_section(loaded, splits)
    lines += _figures_section(run, splits)
    lines += _use_section(loaded, splits)
    return "\n".join(lines)


def write_model_card(
    run: str | Path, target: str | Path | None = None, *, splits: Mapping[str, Labels] | None = None
) -> Path:
    """Write :func:`model_card` of ``run`` to ``target`` (default ``run/MODEL_CARD.md``)."""
    path = Path(target) if target is not None else Path(run) / CARD_FILE
    write_text_atomic(path, model_card(run, splits=splits))
    return path
