"""Missing positives on the real AudioSet VGGish sample: audit ranking and LE against B0.

The 975 real clips (527 classes, positives only) get seeded folds: 1-3 train, 4 validation,
5 test. In folds 1-4, 20 % of the positives are dropped (they become implicit negatives). Then:

1. a B0 model (missing = negative) is trained on folds 1-3;
2. ``earmark audit missing`` ranks the implicit negatives of the training clips with it; the
   figure is the average precision of the dropped positives over that ranking (and the share
   of dropped positives among the top-ranked entries, as many as were dropped);
3. label enhancement in Fonseca et al.'s form flags p % of each class's implicit negatives,
   p in {0.5, 1, 2, 5}, and a student is trained on the masked labels; B0 and the students are
   evaluated on fold 5 with its original labels (lwlrap, macro PR-AUC, d').

Everything is repeated over ``--seeds`` seeds (the drop, the folds' training order and the
initialisation change with the seed; the folds do not).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from earmark.audit import suspected_missing
from earmark.config import from_dict
from earmark.data.loaders import load_dataset
from earmark.data.simulate import drop_labels
from earmark.data.table import read_labels, write_labels
from earmark.features.embeddings import PrecomputedConfig
from earmark.metrics import average_precision_macro, lwlrap, scalar_metric
from earmark.metrics.curves import average_precision_per_class
from earmark.pipeline.scoring import score_run
from earmark.predictions import Predictions
from earmark.prepare import prepare
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer

PERCENTS = (0.5, 1.0, 2.0, 5.0)


def config(prepared: Path, labels: Path, seed: int, epochs: int, strategy: str, options: dict) -> TrainConfig:
    return from_dict(
        TrainConfig,
        {
            "data": {
                "prepared": str(prepared),
                "labels": str(labels),
                "train_folds": [1, 2, 3],
                "valid_folds": [4],
                "test_folds": [5],
            },
            "model": "attention_mil",
            # the released model's input standardisation, batch norm and residual are the defaults
            "model_options": {"hidden_layers": 2, "hidden_units": 256, "dropout": 0.4},
            "strategy": strategy,
            "strategy_options": options,
            "segment_frames": 10,
            "crop": "head",
            "batch_size": 64,
            "epochs": epochs,
            "optim": {"name": "adam", "lr": 1e-3, "weight_decay": 1e-5, "warmup_steps": 20},
            "metric": "lwlrap",
            "checkpoint_every": 10_000,
            "seed": seed,
            "device": "cpu",
        },
    )


def newer_remedies(train_clips: int, epochs: int) -> dict[str, tuple[str, dict]]:
    """LL-R / LL-Ct (Kim et al., CVPR 2022: 0.2 % more of the assumed negatives each epoch, none
    in the first) and ASL (Ridnik et al., ICCV 2021: γ+ 0, γ− 4, clip 0.05), papers' settings."""
    large_loss = {"delta_rel": 0.002, "rate_every_steps": -(-train_clips // 64)}  # one epoch
    return {
        "LL-R": ("large_loss", {**large_loss, "mode": "reject"}),
        "LL-Ct": ("large_loss", {**large_loss, "mode": "correct_temporary"}),
        "ASL": ("asymmetric", {"missing": "negative"}),
    }


def folder_name(method: str) -> str:
    """The run folder of a method in a seed's cell: ``LE p=5%`` → ``LE_p5``, ``LL-R`` → ``LL_R``."""
    return method.replace("-", "_").replace(" p=", "_p").rstrip("%")


def fit(run_dir: Path, train_config: TrainConfig) -> None:
    if not (run_dir / "summary.json").exists():
        Trainer(train_config, run_dir).fit(resume=True)


def test_metrics(run_dir: Path, truth) -> dict[str, float]:
    predictions = Predictions.read(run_dir / "predictions" / "test.npz")
    order = {c: i for i, c in enumerate(predictions.clip_ids.tolist())}
    scores = predictions.scores[[order[c] for c in truth.clip_ids.tolist()]]
    y = truth.positive
    return {
        "lwlrap": float(lwlrap(y, scores)),
        "ap_macro": float(average_precision_macro(y, scores)),
        "d_prime_macro": float(scalar_metric("d_prime_macro")(y, scores)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/missing_audioset"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--drop", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small models: 1 is fastest)")
    parser.add_argument("--percents", type=float, nargs="+", default=list(PERCENTS), help="LE shares (%%)")
    parser.add_argument(
        "--newer", action="store_true", help="also the newer remedies: LL-R, LL-Ct, ASL (papers' settings)"
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    sample = args.data / "audioset_vggish_sample"
    prepared = args.out / "prepared"
    if not (prepared / "labels.csv").exists():
        manifest = load_dataset(
            "audioset", {"records": str(sample), "class_labels": str(sample / "class_labels_indices.csv")}
        )
        prepare(manifest, prepared, PrecomputedConfig())
    original = read_labels(prepared / "labels.csv")
    folds = np.random.default_rng(1994).permutation(original.num_clips) % 5 + 1
    import dataclasses

    original = dataclasses.replace(original, fold=folds)
    truth = original.select(folds=[5])
    results: dict = {"seeds": [], "drop": args.drop}
    for seed in range(args.seeds):
        cell = args.out / f"s{seed}"
        labels_path = cell / "labels.csv"
        dropped = drop_labels(original, rate=args.drop, mode="positives_only", seed=seed, clips=folds != 5)
        write_labels(dropped, labels_path)
        b0 = cell / "B0"
        fit(b0, config(prepared, labels_path, seed, args.epochs, "supervised", {"missing": "negative"}))
        # the audit on the training clips, against the positives that were dropped
        train_labels, scores = score_run(b0, split="train")
        items = suspected_missing(train_labels, scores)
        before = original.select(clip_ids=train_labels.clip_ids.tolist())
        was_dropped = before.positive & ~train_labels.positive
        row_of = {c: r for r, c in enumerate(train_labels.clip_ids.tolist())}
        hit = np.array([was_dropped[row_of[i.clip], train_labels.class_index(i.class_name)] for i in items])
        ranking = -np.arange(len(items), dtype=float)
        audit_ap = float(average_precision_per_class(hit[:, None], ranking[:, None]).macro)
        top = int(was_dropped.sum())
        row = {
            "seed": seed,
            "dropped_in_train": top,
            "missing_entries_in_train": len(items),
            "audit_ap": audit_ap,
            "audit_chance": float(hit.mean()),
            "audit_precision_at_dropped": float(hit[:top].mean()),
            "test": {"B0": test_metrics(b0, truth)},
            "flag_precision": {},
        }
        for percent in args.percents:
            method = f"LE p={percent:g}%"
            run_dir = cell / folder_name(method)
            options = {"teacher_run": str(b0), "percent": percent}
            fit(run_dir, config(prepared, labels_path, seed, args.epochs, "label_enhancement", options))
            row["test"][method] = test_metrics(run_dir, truth)
            enhanced = read_labels(run_dir / "enhanced_labels.csv")
            flagged = enhanced.missing & train_labels.missing
            row["flag_precision"][f"{percent:g}"] = (
                float(was_dropped[flagged].mean()) if flagged.any() else 0.0
            )
        if args.newer:
            for name, (strategy, options) in newer_remedies(len(folds[folds <= 3]), args.epochs).items():
                run_dir = cell / folder_name(name)
                fit(run_dir, config(prepared, labels_path, seed, args.epochs, strategy, options))
                row["test"][name] = test_metrics(run_dir, truth)
        results["seeds"].append(row)
        print(json.dumps(row, indent=1), flush=True)
    results["against_b0"] = against_b0(args.out, truth, args.seeds, list(results["seeds"][0]["test"]))
    results["seconds"] = time.perf_counter() - started
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(markdown(results))


def against_b0(out: Path, truth, seeds: int, methods: list[str]) -> dict[str, dict]:
    """Paired bootstrap over test clips of each method's seed-mean metric against B0's."""
    from earmark.metrics import paired_bootstrap
    from missing_labels import seed_mean

    def scores(method: str) -> np.ndarray:
        per_seed = []
        for seed in range(seeds):
            folder = out / f"s{seed}" / folder_name(method)
            predictions = Predictions.read(folder / "predictions" / "test.npz")
            order = {c: i for i, c in enumerate(predictions.clip_ids.tolist())}
            per_seed.append(predictions.scores[[order[c] for c in truth.clip_ids.tolist()]])
        return np.hstack(per_seed)

    rng = np.random.default_rng(0)
    y = np.tile(truth.positive, (1, seeds))
    base = scores("B0")
    found: dict[str, dict] = {}
    for method in (m for m in methods if m != "B0"):
        for name in ("ap_macro", "lwlrap"):
            comparison = paired_bootstrap(
                seed_mean(scalar_metric(name), seeds), y, base, scores(method), rng=rng, num_resamples=1000
            )
            found[f"{method} {name}"] = comparison.as_dict()
    return found


def markdown(results: dict) -> str:
    seeds = results["seeds"]

    def mean_sd(values: list[float]) -> str:
        return f"{np.mean(values):.4f} ± {np.std(values):.4f}"

    def figure(key: str) -> str:
        return mean_sd([s[key] for s in seeds])

    lines = [
        f"Audit of the B0 run's training clips ({len(seeds)} seeds): dropped positives "
        f"{mean_sd([s['dropped_in_train'] for s in seeds])} among "
        f"{mean_sd([s['missing_entries_in_train'] for s in seeds])} implicit negatives.",
        "",
        "| audit figure | value |",
        "|---|---|",
        f"| average precision of the dropped positives over the ranking | {figure('audit_ap')} |",
        f"| chance (share of dropped positives among implicit negatives) | {figure('audit_chance')} |",
        f"| precision in the top N (N = dropped count) | {figure('audit_precision_at_dropped')} |",
        "",
        "| model (test fold, original labels) | lwlrap | macro PR-AUC | d' | flagged: dropped positives |",
        "|---|---|---|---|---|",
    ]
    for name in seeds[0]["test"]:
        cells = [
            mean_sd([s["test"][name][m] for s in seeds]) for m in ("lwlrap", "ap_macro", "d_prime_macro")
        ]
        percent = name.split("=")[-1].rstrip("%") if name.startswith("LE") else None
        flag = mean_sd([s["flag_precision"][percent] for s in seeds]) if percent else "–"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {flag} |")
    if results.get("against_b0"):
        lines += ["", "| against B0 | difference | 95 % interval | p |", "|---|---|---|---|"]
        for key, row in results["against_b0"].items():
            low, high, p = row["low"], row["high"], row["p_value"]
            lines.append(f"| {key} | {row['difference']:+.4f} | [{low:+.4f}, {high:+.4f}] | {p:.3f} |")
    lines.append(f"\n{results['seconds']:.0f} s in all")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
