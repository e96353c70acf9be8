"""Collecting and reporting the noisy-labels study of ``benchmarks/noisy_labels.py``.

Test metrics of every method pooled over the folds (per seed), paired bootstraps against the
naive baseline, the share of the naive-to-upper gap the best pipeline closes, and how well
``audit noisy`` and cleanlab find the wrong crowd labels from the same out-of-fold scores.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import yaml

from earmark.audit.noisy import NOISY_METHODS, clip_suspicion, confident_flags
from earmark.data.labels import Labels
from earmark.data.table import read_labels
from earmark.metrics import paired_bootstrap, scalar_metric
from earmark.metrics.curves import average_precision_per_class
from earmark.predictions import Predictions
from earmark.study import seed_mean

METHODS = {
    "curated": "curated only",
    "naive": "curated + noisy, naively",
    "naive_pi": "curated + noisy, naively, Pi-model (control)",
    "stage1": "warm-up, then fine-tune",
    "stage2": "multi-stage pipeline (top-5 filter, Pi-model)",
    "blacklist": "blacklisting, 2 rounds",
    "upper": "upper bound (true labels)",
    "upper_pi": "upper bound, Pi-model (control)",
    "stage2_nofilter": "stage2 without the filter (control)",
    "naive_long": "naive, continued with stage2's optimizer (control)",
    "upper_long": "upper bound, continued with stage2's optimizer (control)",
}
PIPELINES = ("stage1", "stage2", "blacklist")
METRICS = ("accuracy", "lwlrap")


def test_scores(args, clips: list[str], stage: str) -> list[np.ndarray]:
    """Per seed, the (clips, classes) test scores of ``stage`` pooled over the folds."""
    per_seed = []
    for seed in range(args.seeds):
        rows: dict[str, np.ndarray] = {}
        for fold in range(1, args.folds + 1):
            predictions = Predictions.read(
                args.out / f"s{seed}" / f"f{fold}" / stage / "predictions" / "test.npz"
            )
            rows.update(zip(predictions.clip_ids.tolist(), predictions.scores, strict=True))
        per_seed.append(np.stack([rows[c] for c in clips]))
    return per_seed


def chain_steps(run: Path) -> int:
    """Optimizer steps of a train stage plus those of the stages it starts from (``init_from``)."""
    steps = json.loads((run / "summary.json").read_text())["steps"]
    earlier = yaml.safe_load((run / "config.yaml").read_text()).get("init_from")
    return int(steps) + (chain_steps(Path(earlier)) if earlier else 0)


def audit_quality(args) -> dict:
    """AP, precision and recall of the audit (each method) and of cleanlab, per seed and fold."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    rows = []
    for seed in range(args.seeds):
        for fold in range(1, args.folds + 1):
            cell = args.out / f"s{seed}" / f"f{fold}"
            oof = Predictions.read(cell / "clean" / "scores.npz")
            noisy = read_labels(cell / "study.csv").select(clip_ids=oof.clip_ids.tolist())
            true = read_labels(cell / "truth.csv").select(clip_ids=oof.clip_ids.tolist())
            wrong = ~(noisy.positive == true.positive).all(1)
            row = {"seed": seed, "fold": fold, "clips": int(noisy.num_clips), "wrong": int(wrong.sum())}
            for method in NOISY_METHODS:
                suspicion = clip_suspicion(noisy.positive, oof.scores, method=method)
                row[f"ap_{method}"] = _ap(wrong, suspicion)
            listed = clip_suspicion(noisy.positive, oof.scores) > 0
            row |= _precision_recall("audit", wrong, listed)
            row |= _precision_recall("confident", wrong, confident_flags(noisy.positive, oof.scores))
            given = noisy.positive.argmax(1)
            probabilities = oof.scores / oof.scores.sum(1, keepdims=True)
            with warnings.catch_warnings():  # "may not flag all label issues in class k": a class
                warnings.filterwarnings("ignore", "May not flag all label issues")  # given to <= 1 clip
                issues = find_label_issues(given, probabilities)
            row |= _precision_recall("cleanlab", wrong, issues)
            row["ap_cleanlab"] = _ap(wrong, 1.0 - get_label_quality_scores(given, probabilities))
            margin = get_label_quality_scores(given, probabilities, method="normalized_margin")
            row["ap_cleanlab_normalized_margin"] = _ap(wrong, 1.0 - margin)
            rows.append(row)
    return {"cells": rows}


def _ap(truth: np.ndarray, score: np.ndarray) -> float:
    return float(average_precision_per_class(truth[:, None], score[:, None]).values[0])


def _precision_recall(name: str, truth: np.ndarray, flagged: np.ndarray) -> dict:
    hits = int((truth & flagged).sum())
    return {
        f"{name}_flagged": int(flagged.sum()),
        f"{name}_precision": hits / max(int(flagged.sum()), 1),
        f"{name}_recall": hits / max(int(truth.sum()), 1),
    }


def collect(args, truth: Labels, crowd: dict[int, Labels]) -> dict:
    clips = sorted(crowd[0].clip_ids.tolist())
    y = truth.select(clip_ids=clips).positive.astype(np.float64)
    scores = {stage: test_scores(args, clips, stage) for stage in METHODS}
    results: dict = {"clips": len(clips), "seeds": args.seeds, "metrics": {}, "comparisons": {}}
    for stage in METHODS:
        results["metrics"][stage] = {
            m: [float(scalar_metric(m)(y, s)) for s in scores[stage]] for m in METRICS
        }
        results["metrics"][stage]["steps"] = [
            chain_steps(args.out / f"s{seed}" / f"f{fold}" / stage)
            for seed in range(args.seeds)
            for fold in range(1, args.folds + 1)
        ]
    rng = np.random.default_rng(0)
    tiled = np.tile(y, (1, args.seeds))
    for stage in METHODS:
        if stage == "naive":
            continue
        for m in METRICS:
            comparison = paired_bootstrap(
                seed_mean(scalar_metric(m), args.seeds),
                tiled,
                np.hstack(scores["naive"]),
                np.hstack(scores[stage]),
                rng=rng,
                num_resamples=args.resamples,
            )
            results["comparisons"][f"{stage} vs naive, {m}"] = comparison.as_dict()
    best = max(PIPELINES, key=lambda s: np.mean(results["metrics"][s]["accuracy"]))
    results["best_pipeline"] = best
    results["gap_closed"] = {m: _gap(y, scores, ("naive", best, "upper"), m, args, rng) for m in METRICS}
    ends = ("naive_pi", "stage2", "upper_pi")  # the Pi-model on every side of the comparison
    results["gap_closed_pi"] = {m: _gap(y, scores, ends, m, args, rng) for m in METRICS}
    ends = ("naive_long", best, "upper_long")  # both ends with stage2's training budget
    results["gap_closed_long"] = {m: _gap(y, scores, ends, m, args, rng) for m in METRICS}
    results["audit"] = audit_quality(args)
    results["stages"] = _stage_counts(args)
    return results


def _gap(y, scores, ends: tuple[str, str, str], metric, args, rng) -> dict:
    """Share of the gap from ``ends[0]`` to ``ends[2]`` that ``ends[1]`` closes, with a bootstrap
    interval over clips."""
    function = seed_mean(scalar_metric(metric), args.seeds)
    stacked = {s: np.hstack(scores[s]) for s in ends}
    tiled = np.tile(y, (1, args.seeds))

    def share(rows: np.ndarray) -> float:
        low, middle, high = (function(tiled[rows], stacked[s][rows]) for s in ends)
        return (middle - low) / (high - low) if high != low else float("nan")

    every = np.arange(len(y))
    draws = [share(rng.integers(0, len(y), len(y))) for _ in range(args.resamples)]
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return {"share": share(every), "low": float(low), "high": float(high)}


def _stage_counts(args) -> dict:
    """What the filter and the blacklist did, summed over cells, against the truth."""
    totals = {"filter_scored": 0, "filter_rejected": 0, "filter_rejected_wrong": 0, "wrong": 0}
    totals |= {"blacklisted": 0, "blacklisted_wrong": 0}
    for seed in range(args.seeds):
        for fold in range(1, args.folds + 1):
            cell = args.out / f"s{seed}" / f"f{fold}"
            study, true = read_labels(cell / "study.csv"), read_labels(cell / "truth.csv")
            wrong = set(study.clip_ids[~(study.positive == true.positive).all(1)].tolist())
            filtered = read_labels(cell / "filter" / "labels.csv")
            rejected = set(filtered.clip_ids[filtered.source == "unlabeled"].tolist())
            kept_clean = read_labels(cell / "clean" / "labels.csv")
            blacklisted = set(study.clip_ids[study.source == "noisy"].tolist()) - set(
                kept_clean.clip_ids.tolist()
            )
            totals["wrong"] += len(wrong)
            totals["filter_scored"] += int((study.source == "noisy").sum())
            totals["filter_rejected"] += len(rejected)
            totals["filter_rejected_wrong"] += len(rejected & wrong)
            totals["blacklisted"] += len(blacklisted)
            totals["blacklisted_wrong"] += len(blacklisted & wrong)
    return totals


def markdown(results: dict) -> str:
    lines = [
        "| method | training steps | accuracy | lwlrap | Δ accuracy vs naive [95 % CI], p "
        "| Δ lwlrap vs naive [95 % CI], p |"
    ]
    lines.append("|---|---|---|---|---|---|")
    for stage, title in METHODS.items():
        cells = [f"{np.mean(results['metrics'][stage]['steps']):.0f}"]
        for m in METRICS:
            values = results["metrics"][stage][m]
            cells.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}")
        for m in METRICS:
            c = results["comparisons"].get(f"{stage} vs naive, {m}")
            cells.append(
                f"{c['difference']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}], {c['p_value']:.3f}"
                if c
                else "–"
            )
        lines.append(f"| {title} (`{stage}`) | " + " | ".join(cells) + " |")
    best = results["best_pipeline"]
    headings = {
        "gap_closed_long": f"Best pipeline by mean accuracy: `{best}`. Share of the gap between curated + "
        "noisy naively and the upper bound that it closes, with stage2's training budget on both ends "
        "(`naive_long` → `upper_long`, the like-for-like comparison):",
        "gap_closed": f"The same share against `naive` → `upper`, which train for fewer steps than "
        f"`{best}`'s stages together (unequal budgets, shown for completeness):",
        "gap_closed_pi": "Share of the `naive_pi` → `upper_pi` gap (the Pi-model on both ends) that "
        "`stage2` closes:",
    }
    for key, heading in headings.items():
        lines += ["", heading, ""]
        lines += [
            f"- {m}: {gap['share']:.2f} (95 % bootstrap interval over clips {gap['low']:.2f} to "
            f"{gap['high']:.2f})"
            for m, gap in results[key].items()
        ]
    cells = results["audit"]["cells"]
    mean = lambda key: np.mean([c[key] for c in cells])  # noqa: E731
    std = lambda key: np.std([c[key] for c in cells])  # noqa: E731
    lines += [
        "",
        f"Finding the wrong crowd labels among the noisy training clips ({len(cells)} seed × fold cells, "
        f"{mean('clips'):.0f} noisy clips and {mean('wrong'):.1f} wrong labels per cell on average), "
        "from the same out-of-fold scores:",
        "",
        "| ranking | average precision | flagged | precision at the flagged count "
        "| recall at the flagged count |",
        "|---|---|---|---|---|",
    ]

    def counts(name: str) -> str:
        return (
            f"{mean(name + '_flagged'):.1f} | {mean(name + '_precision'):.3f} ± "
            f"{std(name + '_precision'):.3f} | {mean(name + '_recall'):.3f} ± {std(name + '_recall'):.3f}"
        )

    for method in NOISY_METHODS:
        lines.append(
            f"| audit noisy, `{method}` | {mean('ap_' + method):.3f} ± {std('ap_' + method):.3f} "
            "| – | – | – |"
        )
    lines.append(f"| audit noisy: the listed clips (suspicion > 0) | | {counts('audit')} |")
    lines.append(
        "| audit noisy: the flagged clips (confident learning's rule, what a round blacklists) | "
        f"| {counts('confident')} |"
    )
    lines.append(
        f"| cleanlab `find_label_issues`; AP of `get_label_quality_scores` (self-confidence) "
        f"| {mean('ap_cleanlab'):.3f} ± {std('ap_cleanlab'):.3f} | {counts('cleanlab')} |"
    )
    lines.append(
        "| cleanlab, AP of `get_label_quality_scores(method='normalized_margin')` "
        f"| {mean('ap_cleanlab_normalized_margin'):.3f} ± {std('ap_cleanlab_normalized_margin'):.3f} "
        "| – | – | – |"
    )
    difference = np.array([c["ap_calibrated_margin"] - c["ap_cleanlab"] for c in cells])
    draws = np.random.default_rng(0).choice(difference, size=(2000, len(difference))).mean(1)
    low, high = np.percentile(draws, [2.5, 97.5])
    lines += [
        "",
        f"AP of audit noisy (`calibrated_margin`) − AP of cleanlab's default ranking, per cell: "
        f"{difference.mean():+.3f} ± {difference.std():.3f} (95 % bootstrap interval over cells "
        f"{low:+.3f} to {high:+.3f}).",
    ]
    wins = sum(c["ap_calibrated_margin"] >= c["ap_cleanlab"] for c in cells)
    wins_margin = sum(c["ap_calibrated_margin"] >= c["ap_cleanlab_normalized_margin"] for c in cells)
    lines += [
        "",
        f"audit (`calibrated_margin`) AP ≥ cleanlab's default ranking in {wins} of {len(cells)} cells, "
        f"≥ cleanlab's normalized margin in {wins_margin} of {len(cells)}.",
    ]
    s = results["stages"]
    lines += [
        "",
        f"Top-5 filter: {s['filter_rejected']} of {s['filter_scored']} noisy clips made unlabeled, "
        f"{s['filter_rejected_wrong']} of them wrongly labeled (of {s['wrong']} wrong labels). "
        f"Blacklisting: {s['blacklisted']} clips blacklisted in 2 rounds, {s['blacklisted_wrong']} of them "
        "wrongly labeled.",
    ]
    return "\n".join(lines)
