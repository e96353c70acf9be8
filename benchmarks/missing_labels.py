"""The missing-labels study on ESC-mix: B0, B1, LE, MT and LE+MT against the missing rate.

Set-up (once; see benchmarks/RESULTS.md for the exact commands):

    earmark simulate esc-mix --out runs/esc_mix
    earmark prepare csv --set table=runs/esc_mix/mixtures.csv --set classes=runs/esc_mix/classes.txt \
        --out runs/esc_mix_aisfx --frontend-set name=aisfx

Then this script, for every missing rate r and seed s, drops a share r of the entries of the
train and validation mixtures (folds 1-4; explicit mode, as in the SONYC-UST experiment), and
trains on folds 1-3 with fold 4 for validation:

* ``B0``  supervised, missing = negative;
* ``B1``  supervised, missing entries masked;
* ``LE``  label enhancement (B0 of the same rate and seed as the teacher);
* ``MT``  Mean Teacher (masked BCE + consistency);
* ``LE+MT`` Mean Teacher trained on labels enhanced by a Mean Teacher run with missing =
  negative (``MT0``, trained here as its teacher).

At a 0 % rate no entry is missing: B1 and LE train exactly as B0, and LE+MT as MT, so those
runs are trained once and shared. Every model is evaluated on the fully labeled test mixtures
(fold 5, recordings disjoint from training) with macro PR-AUC, lwlrap and macro-F1 (threshold
0.5). Differences between methods use a paired bootstrap over test clips of the seed-averaged
metric. Runs already finished (``summary.json`` present) are not redone, so the script can be
interrupted and re-run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from earmark.config import from_dict
from earmark.data.simulate import drop_labels
from earmark.data.table import read_labels, write_labels
from earmark.metrics import paired_bootstrap, scalar_metric
from earmark.predictions import Predictions
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer

METHODS = ("B0", "B1", "LE", "MT", "LE+MT", "LL-R", "LL-Ct", "ASL")
METRICS = ("ap_macro", "lwlrap", "f1_macro")


def base_config(args: argparse.Namespace, labels: Path, seed: int) -> dict:
    return {
        "data": {
            "prepared": str(args.prepared),
            "labels": str(labels),
            "train_folds": [1, 2, 3],
            "valid_folds": [4],
            "test_folds": [5],
        },
        "model": "attention_mil",
        "model_options": {"hidden_layers": 1, "hidden_units": 512, "dropout": 0.6},
        "segment_frames": args.segment_frames,
        "crop": "head",
        "batch_size": 64,
        "epochs": args.epochs,
        "optim": {"name": "adam", "lr": 1e-3, "weight_decay": 1e-5, "warmup_steps": 20},
        "metric": "ap_macro",
        "checkpoint_every": 10_000,
        "seed": seed,
        "device": "cpu",
        "num_workers": 0,
        "report": False,
    }


def strategies(teacher_runs: dict[str, Path], steps: int, epochs: int) -> dict[str, tuple[str, dict]]:
    """Each method's strategy and options; the newer remedies with their papers' settings.

    LL-R / LL-Ct (Kim et al., CVPR 2022): Δrel 0.2 % of the assumed negatives more each epoch,
    none in the first. ASL (Ridnik et al., ICCV 2021): γ+ 0, γ− 4, clip 0.05, missing entries
    as negatives. Fixed before any of their test figures was seen.
    """
    mean_teacher = {"alpha": 0.99, "consistency_weight": 3.0, "rampup_steps": steps // 3}
    large_loss = {"delta_rel": 0.002, "rate_every_steps": max(1, steps // epochs)}
    return {
        "B0": ("supervised", {"missing": "negative"}),
        "B1": ("supervised", {"missing": "mask"}),
        "MT0": ("mean_teacher", {**mean_teacher, "missing": "negative"}),
        "MT": ("mean_teacher", {**mean_teacher, "missing": "mask"}),
        "LE": ("label_enhancement", {"teacher_run": str(teacher_runs["B0"]), "gamma": 95.0}),
        "LE+MT": (
            "le_mean_teacher",
            {"teacher_run": str(teacher_runs["MT0"]), "gamma": 95.0, **mean_teacher},
        ),
        "LL-R": ("large_loss", {**large_loss, "mode": "reject"}),
        "LL-Ct": ("large_loss", {**large_loss, "mode": "correct_temporary"}),
        "ASL": ("asymmetric", {"missing": "negative"}),
    }


def train(run_dir: Path, config: dict) -> float:
    """Train one run (unless finished); returns its wall seconds and writes ``cpu.json``.

    ``cpu.json`` holds the process CPU seconds (user + system, every thread) and the wall
    seconds of building the Trainer and fitting, i.e. data loading, training, validation and
    test predictions; a resumed run records only what it did after resuming.
    """
    if (run_dir / "summary.json").exists():
        return 0.0
    started, cpu_started = time.perf_counter(), time.process_time()
    Trainer(from_dict(TrainConfig, config), run_dir).fit(resume=True)
    seconds = {
        "cpu_seconds": time.process_time() - cpu_started,
        "wall_seconds": time.perf_counter() - started,
    }
    (run_dir / "cpu.json").write_text(json.dumps(seconds, indent=2))
    return seconds["wall_seconds"]


def cpu_seconds(run: Path) -> float | None:
    """The CPU seconds ``train`` recorded for ``run``, or None (run from before they were kept)."""
    path = run / "cpu.json"
    return float(json.loads(path.read_text())["cpu_seconds"]) if path.exists() else None


#: At a 0 % missing rate no entry is missing, so these methods train exactly as another one does.
SAME_AT_ZERO = {"B1": "B0", "LE": "B0", "MT0": "MT", "LE+MT": "MT", "LL-R": "B0", "LL-Ct": "B0"}


def run_dir(args: argparse.Namespace, rate: float, seed: int, name: str) -> Path:
    if rate == 0.0:
        name = SAME_AT_ZERO.get(name, name)
    return args.out / f"r{round(rate * 100):02d}" / f"s{seed}" / name.replace("+", "_").replace("-", "_")


def run_all(args: argparse.Namespace) -> None:
    """Seed by seed over every rate, so an interrupted study still has whole seeds."""
    full = read_labels(args.prepared / "labels.csv")
    train_rows = full.fold != 5
    steps = args.epochs * int(np.ceil((np.isin(full.fold, [1, 2, 3])).sum() / 64))
    total_seconds = 0.0
    for seed in range(args.seeds):
        for rate in args.rates:
            labels_path = args.out / f"r{round(rate * 100):02d}" / f"s{seed}" / "labels.csv"
            if not labels_path.exists():
                degraded = drop_labels(full, rate=rate, mode="explicit", seed=seed, clips=train_rows)
                write_labels(degraded, labels_path)
            runs = {name: run_dir(args, rate, seed, name) for name in (*METHODS, "MT0")}
            for name, (strategy, options) in strategies(runs, steps, args.epochs).items():
                if rate == 0.0 and name in SAME_AT_ZERO:
                    continue
                config = {
                    **base_config(args, labels_path, seed),
                    "strategy": strategy,
                    "strategy_options": options,
                }
                seconds = train(runs[name], config)
                total_seconds += seconds
                if seconds:
                    summary = json.loads((runs[name] / "summary.json").read_text())
                    print(
                        f"r={rate:.2f} seed={seed} {name:6s} test ap_macro {summary['test']['ap_macro']:.4f} "
                        f"({seconds:.0f} s wall, {cpu_seconds(runs[name]):.0f} s CPU, "
                        f"{total_seconds / 60:.1f} min so far)",
                        flush=True,
                    )


def collect(args: argparse.Namespace) -> dict:
    full = read_labels(args.prepared / "labels.csv")
    test = full.select(folds=[5])
    y = test.positive
    results: dict = {"rates": {}, "num_test_clips": int(test.num_clips)}
    rng = np.random.default_rng(0)
    for rate in args.rates:
        scores: dict[str, list[np.ndarray]] = {m: [] for m in METHODS}
        for seed in range(args.seeds):
            for method in METHODS:
                path = run_dir(args, rate, seed, method) / "predictions" / "test.npz"
                if not path.exists():
                    continue
                predictions = Predictions.read(path)
                order = {c: i for i, c in enumerate(predictions.clip_ids.tolist())}
                scores[method].append(predictions.scores[[order[c] for c in test.clip_ids.tolist()]])
        row: dict = {"metrics": {}, "comparisons": {}, "cpu_seconds": {}}
        for method in (*METHODS, "MT0"):
            cpu = [cpu_seconds(run_dir(args, rate, seed, method)) for seed in range(args.seeds)]
            if any(c is not None for c in cpu):
                row["cpu_seconds"][method] = cpu
        for method, per_seed in scores.items():
            if per_seed:
                row["metrics"][method] = {
                    name: [float(scalar_metric(name)(y, s)) for s in per_seed] for name in METRICS
                }
        for baseline in ("B0", "B1"):
            for method in METHODS:
                if METHODS.index(method) <= METHODS.index(baseline) or len(scores[method]) != len(
                    scores[baseline]
                ):
                    continue
                if rate == 0.0 and SAME_AT_ZERO.get(method, method) == SAME_AT_ZERO.get(baseline, baseline):
                    continue  # the same runs
                for name in ("ap_macro",):
                    comparison = paired_bootstrap(
                        seed_mean(scalar_metric(name), len(scores[method])),
                        np.tile(y, (1, len(scores[method]))),
                        np.hstack(scores[baseline]),
                        np.hstack(scores[method]),
                        rng=rng,
                        num_resamples=args.resamples,
                    )
                    row["comparisons"][f"{method} vs {baseline}"] = comparison.as_dict()
        results["rates"][f"{rate:.2f}"] = row
    return results


def seed_mean(metric, seeds: int):
    """The mean over seeds of ``metric``, on scores of every seed stacked along the class axis."""

    def averaged(y_true: np.ndarray, scores: np.ndarray, *, mask: np.ndarray | None = None) -> float:
        classes = y_true.shape[1] // seeds
        return float(
            np.mean(
                [
                    metric(
                        y_true[:, k * classes : (k + 1) * classes], scores[:, k * classes : (k + 1) * classes]
                    )
                    for k in range(seeds)
                ]
            )
        )

    return averaged


def markdown(results: dict) -> str:
    lines = [
        "| missing rate | " + " | ".join(METHODS) + " |",
        "|---|" + "---|" * len(METHODS),
    ]
    for name in METRICS:
        lines.append(f"| **{name}** |" + " |" * len(METHODS))
        for rate, row in results["rates"].items():
            cells = []
            for method in METHODS:
                values = row["metrics"].get(method, {}).get(name)
                cells.append(f"{np.mean(values):.4f} ± {np.std(values):.4f}" if values else "–")
            lines.append(f"| {float(rate):.0%} | " + " | ".join(cells) + " |")
    cpu_rows = [
        (rate, row["cpu_seconds"]) for rate, row in results["rates"].items() if row.get("cpu_seconds")
    ]
    if cpu_rows:
        names = [m for m in (*METHODS, "MT0") if any(m in cpu for _, cpu in cpu_rows)]
        lines += [
            "",
            "Process CPU seconds per run (mean ± sd over the seeds that recorded them; "
            "LE and LE+MT exclude their teacher runs, B0 and MT0):",
            "",
        ]
        lines += ["| missing rate | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for rate, cpu in cpu_rows:
            cells = []
            for method in names:
                values = [c for c in cpu.get(method, []) if c is not None]
                cells.append(f"{np.mean(values):.1f} ± {np.std(values):.1f}" if values else "–")
            lines.append(f"| {float(rate):.0%} | " + " | ".join(cells) + " |")
    lines += ["", "Paired bootstrap of the seed-mean macro PR-AUC (difference, 95 % interval, p):", ""]
    lines += ["| missing rate | comparison | difference | interval | p |", "|---|---|---|---|---|"]
    for rate, row in results["rates"].items():
        for label, c in row["comparisons"].items():
            lines.append(
                f"| {float(rate):.0%} | {label} | {c['difference']:+.4f} | "
                f"[{c['low']:+.4f}, {c['high']:+.4f}] | {c['p_value']:.3f} |"
            )
    return "\n".join(lines)


def box_plots(results: dict, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for rate, row in results["rates"].items():
        methods = [m for m in METHODS if m in row["metrics"]]
        figure, axis = plt.subplots(figsize=(5.5, 3.2), dpi=110)
        axis.boxplot([row["metrics"][m]["ap_macro"] for m in methods], tick_labels=methods)
        seeds = len(row["metrics"][methods[0]]["ap_macro"])
        axis.set_title(f"ESC-mix, {float(rate):.0%} of train labels missing ({seeds} seeds)", fontsize=10)
        axis.set_ylabel("macro PR-AUC (test)")
        axis.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        path = folder / f"missing_labels_r{round(float(rate) * 100):02d}.png"
        figure.savefig(path)
        plt.close(figure)
        paths.append(path)
    return paths


def ablation(args: argparse.Namespace, rate: float = 0.4) -> str:
    """Variants of LE and MT at one rate, on the first ``--ablation-seeds`` seeds of the study."""
    full = read_labels(args.prepared / "labels.csv")
    test = full.select(folds=[5])
    steps = args.epochs * int(np.ceil((np.isin(full.fold, [1, 2, 3])).sum() / 64))
    mean_teacher = {"alpha": 0.99, "consistency_weight": 3.0, "rampup_steps": steps // 3}
    rows: dict[str, list[float]] = {}
    diagnostics: dict[str, list[tuple[float, float]]] = {}
    for seed in range(args.ablation_seeds):
        labels_path = args.out / f"r{round(rate * 100):02d}" / f"s{seed}" / "labels.csv"
        b0, b1 = run_dir(args, rate, seed, "B0"), run_dir(args, rate, seed, "B1")
        variants: dict[str, tuple[str, dict]] = {
            "LE γ=80": ("label_enhancement", {"teacher_run": str(b0), "gamma": 80.0}),
            "LE γ=90": ("label_enhancement", {"teacher_run": str(b0), "gamma": 90.0}),
            "LE γ=99": ("label_enhancement", {"teacher_run": str(b0), "gamma": 99.0}),
            "LE γ=95, B1 teacher": ("label_enhancement", {"teacher_run": str(b1), "gamma": 95.0}),
            "MT β=1": ("mean_teacher", {**mean_teacher, "consistency_weight": 1.0}),
            "MT β=10": ("mean_teacher", {**mean_teacher, "consistency_weight": 10.0}),
            "MT α=0.999": ("mean_teacher", {**mean_teacher, "alpha": 0.999}),
            "MT no ramp-up": ("mean_teacher", {**mean_teacher, "rampup_steps": 0}),
            "MT + SpecAugment teacher view": (
                "mean_teacher",
                {**mean_teacher, "teacher_view": "specaugment"},
            ),
        }
        for name in ("B0", "B1", "LE", "MT"):
            rows.setdefault(name, []).append(_test_ap(run_dir(args, rate, seed, name), test))
        diagnostics.setdefault("LE", []).append(_flag_quality(run_dir(args, rate, seed, "LE"), full))
        for name, (strategy, options) in variants.items():
            directory = args.out / "ablation" / f"r{round(rate * 100):02d}" / f"s{seed}" / _slug(name)
            config = {
                **base_config(args, labels_path, seed),
                "strategy": strategy,
                "strategy_options": options,
            }
            train(directory, config)
            rows.setdefault(name, []).append(_test_ap(directory, test))
            if strategy == "label_enhancement":
                diagnostics.setdefault(name, []).append(_flag_quality(directory, full))
    lines = [
        f"| variant ({rate:.0%} missing, {args.ablation_seeds} seeds) | test macro PR-AUC | "
        "masked entries that were hidden positives | hidden positives masked |",
        "|---|---|---|---|",
    ]
    for name, values in rows.items():
        quality = diagnostics.get(name)
        precision = f"{np.mean([q[0] for q in quality]):.3f}" if quality else "–"
        recall = f"{np.mean([q[1] for q in quality]):.3f}" if quality else "–"
        lines.append(f"| {name} | {np.mean(values):.4f} ± {np.std(values):.4f} | {precision} | {recall} |")
    return "\n".join(lines)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def _test_ap(directory: Path, test) -> float:
    predictions = Predictions.read(directory / "predictions" / "test.npz")
    order = {c: i for i, c in enumerate(predictions.clip_ids.tolist())}
    scores = predictions.scores[[order[c] for c in test.clip_ids.tolist()]]
    return float(scalar_metric("ap_macro")(test.positive, scores))


def _flag_quality(directory: Path, full) -> tuple[float, float]:
    """Of the entries LE kept masked: the share that were hidden positives; and the share of
    hidden positives (in the training clips) that LE kept masked."""
    enhanced = read_labels(directory / "enhanced_labels.csv")
    truth = full.select(clip_ids=enhanced.clip_ids.tolist())
    hidden_positive = truth.positive & ~enhanced.positive
    masked = enhanced.missing
    precision = float(hidden_positive[masked].mean()) if masked.any() else 0.0
    recall = float(masked[hidden_positive].mean()) if hidden_positive.any() else 0.0
    return precision, recall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prepared", type=Path, default=Path("runs/esc_mix_aisfx"))
    parser.add_argument("--out", type=Path, default=Path("runs/missing_study"))
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.4, 0.8])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--segment-frames", type=int, default=4)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--figures", type=Path, default=Path("benchmarks/figures"))
    parser.add_argument("--report-only", action="store_true", help="only collect finished runs")
    parser.add_argument("--ablation-seeds", type=int, default=0, help="run the LE / MT variants at 40 %%")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small models: 1 is fastest)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if not args.report_only:
        run_all(args)
    results = collect(args)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    (args.out / "results.md").write_text(text + "\n")
    for path in box_plots(results, args.figures):
        print(f"wrote {path}")
    print(text)
    if args.ablation_seeds:
        table = ablation(args)
        (args.out / "ablation.md").write_text(table + "\n")
        print(table)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
