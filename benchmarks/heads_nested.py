r"""Embedding heads chosen as the probe is chosen: nested cross-validation with ``earmark tune``.

``benchmarks/embedding_heads.py`` found every earmark head below a logistic-regression probe on
the same aisfx store, and the probe's two edges were its softmax (since given to the heads,
``output: softmax``) and its L2 strength, searched over 13 values by grouped inner 5-fold
cross-validation on all training clips, where the heads used one weak weight decay and an early
stopping split of ~60 clips. This script gives a head the probe's protocol, through the
library only:

for each outer fold f (test fold f, training folds the other four), through
``earmark.tuning.nested.nested_cross_validate`` (what ``earmark cv --tune`` runs):

1. ``earmark.tuning.tune`` searches the head's weight decay (coupled L2: ``optim.name: adam``)
   log-uniformly over the range the probe's C grid spans at this training-set size, by the mean
   validation accuracy of a 5-fold inner cross-validation over the four training folds, whole
   recordings in one inner fold (``tune.inner_folds``, ``tune.group_pattern``); every inner
   run trains its full schedule and is scored with its *final* model (no validation before the
   end, so no checkpoint is picked on the inner fold);
2. the best trial's config is trained on all four training folds, its final model scored on
   fold f;
3. in the same process, the probe (``embedding_heads.lr_probe``) on the same fold.

The test folds play no part in any choice; the script prints the inner-CV figures before the
test ones and writes ``<out>/results.json``. Finished searches and runs are reused, so it can be
interrupted. One torch thread.

    .venv/bin/python benchmarks/heads_nested.py --prepared runs/esc10_aisfx --out runs/heads_nested \
        --heads linear mlp
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from earmark.data.table import read_labels
from earmark.predictions import Predictions
from earmark.training.config import DataConfig
from earmark.training.selection import open_prepared
from earmark.tuning import recipe_from_dict
from earmark.tuning.nested import nested_cross_validate
from embedding_heads import FOLDS, RECORDING, accuracy, lr_probe, mean_sd, pooled

INNER_FOLDS = 5
TRIALS = 13  # as many as the probe's C values
TRAIN_CLIPS = 256  # about the clips an inner fold trains on: the probe's C grid maps to this L2 range

#: The heads, fixed before any run: model, options, learning rate.
HEADS: dict[str, tuple[str, dict[str, Any], float]] = {
    "linear": ("linear", {"statistics": ["max"], "dropout": 0.0}, 1e-2),
    "linear_mean_max": ("linear", {"statistics": ["mean", "max"], "dropout": 0.0}, 1e-2),
    "mlp": ("mlp", {"statistics": ["mean", "max"], "hidden_units": 512, "dropout": 0.3}, 1e-3),
    "attention_mil": ("attention_mil", {"hidden_layers": 3, "hidden_units": 128, "dropout": 0.3}, 1e-3),
}


def weight_decay_range(train_clips: int) -> tuple[float, float]:
    """The L2 coefficients of the probe's C grid (10⁻⁴ … 10²) for a mean loss over ``train_clips``.

    scikit-learn minimises ``C · Σ CE + ½‖w‖²``, i.e. ``mean CE + ‖w‖² / (2 C n)``, whose
    gradient adds ``w / (C n)``: torch's coupled ``weight_decay``. The top is capped at 10,
    the largest weight decay a config accepts (C ≈ 4·10⁻⁴ here; the probe never chose below 0.03).
    """
    return 1.0 / (1e2 * train_clips), min(10.0, 1.0 / (1e-4 * train_clips))


def recipe(args: argparse.Namespace, head: str) -> dict[str, Any]:
    model, options, lr = HEADS[head]
    low, high = weight_decay_range(TRAIN_CLIPS)
    return {
        "data": {"prepared": args.prepared},
        "model": model,
        "model_options": options,
        "strategy": "supervised",
        "strategy_options": {"output": "softmax"},
        "segment_frames": 8,  # aisfx: 3-6 frames per 5 s clip, so every clip is whole
        "crop": "head",
        "predict_hop_frames": 8,
        "batch_size": 32,
        "epochs": args.epochs,
        "metric": "accuracy",
        "validate_every": 10**9,  # no validation before the end: the final model is scored
        "checkpoint_every": 10**6,
        "optim": {"name": "adam", "lr": lr, "weight_decay": 1e-4, "warmup_steps": 20, "schedule": "cosine"},
        "seed": args.seed,
        "device": "cpu",
        "num_workers": 0,
        "amp": False,
        "report": False,
        "tune": {
            "space": {"optim.weight_decay": {"low": low, "high": high, "log": True}},
            "trials": TRIALS,
            "inner_folds": INNER_FOLDS,
            "group_pattern": RECORDING.pattern,
            "pruner": "none",
            "seed": args.seed,
        },
    }


def nested_head(args: argparse.Namespace, head: str) -> dict[int, dict[str, Any]]:
    """``earmark cv --tune`` on the head: per outer fold its choice, test accuracy and CPU time."""
    out = Path(args.out) / head
    record = out / "bench.json"
    if record.exists():
        return {int(f): bench for f, bench in json.loads(record.read_text(encoding="utf-8")).items()}
    labels = read_labels(Path(args.prepared) / "labels.csv")
    clock = {"last": time.process_time()}
    benches: dict[int, dict[str, Any]] = {}

    def on_search(fold: int, best: dict[str, Any]) -> None:
        now = time.process_time()
        benches[fold] = {
            "weight_decay": best["params"]["optim.weight_decay"],
            "inner_accuracy": best["value"],
            "search_cpu_seconds": now - clock["last"],
        }
        clock["last"] = now

    def on_fold(fold: int, metrics: dict[str, Any]) -> None:
        now = time.process_time()
        test = Predictions.read(out / f"fold-{fold}" / "predictions" / "test.npz")
        benches[fold]["test_accuracy"] = accuracy(test, labels.select(folds=[fold]))
        benches[fold]["refit_cpu_seconds"] = now - clock["last"]
        clock["last"] = now

    nested_cross_validate(
        recipe_from_dict(recipe(args, head)), out, folds=FOLDS, on_search=on_search, on_fold=on_fold
    )
    record.write_text(json.dumps(benches, indent=2), encoding="utf-8")
    return benches


def probe_fold(args: argparse.Namespace, fold: int) -> dict[str, Any]:
    stores, labels = open_prepared(DataConfig(prepared=args.prepared))
    frames = [np.asarray(stores[c], dtype=np.float64) for c in labels.clip_ids.tolist()]
    train, test = np.flatnonzero(labels.fold != fold), np.flatnonzero(labels.fold == fold)
    started = time.process_time()
    with threadpool_limits(1):
        result = lr_probe(pooled(frames, ("max",)), labels, train, test)
    return {
        "C": result["C"],
        "weight_decay_equivalent": 1.0 / (result["C"] * len(train)),
        "inner_accuracy": result["inner_accuracy"],
        "test_accuracy": result["test_accuracy"],
        "cpu_seconds": time.process_time() - started,
    }


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    results: dict[str, dict[int, dict[str, Any]]] = {"probe": {f: probe_fold(args, f) for f in FOLDS}}
    for head in args.heads:
        results[head] = nested_head(args, head)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print("inner-CV accuracy of the chosen setting (the choice was made on these), per fold:")
    for name, folds in results.items():
        print(f"  {name:16s}", " ".join(f"{folds[f]['inner_accuracy']:.3f}" for f in FOLDS))
    print("\n| head | " + " | ".join(f"fold {f}" for f in FOLDS) + " | mean ± sd | vs probe | L2 chosen |")
    print("|---|" + "---|" * (len(FOLDS) + 3))
    probe = np.mean([results["probe"][f]["test_accuracy"] for f in FOLDS])
    for name, folds in results.items():
        accuracies = [folds[f]["test_accuracy"] for f in FOLDS]
        decay = [folds[f].get("weight_decay", folds[f].get("weight_decay_equivalent")) for f in FOLDS]
        decays = ", ".join(f"{d:.1e}" for d in decay)
        ratio = np.mean(accuracies) / probe
        print(
            f"| {name} | "
            + " | ".join(f"{a:.3f}" for a in accuracies)
            + f" | {mean_sd(accuracies)} | {ratio:.3f} | {decays} |"
        )
    for name in args.heads:
        cpu = [results[name][f]["search_cpu_seconds"] + results[name][f]["refit_cpu_seconds"] for f in FOLDS]
        print(f"{name}: {np.mean(cpu):.0f} CPU-s per outer fold (search + refit)")
    cpu = [results["probe"][f]["cpu_seconds"] for f in FOLDS]
    low, high = (math.log10(d) for d in weight_decay_range(TRAIN_CLIPS))
    print(f"probe: {np.mean(cpu):.1f} CPU-s per outer fold; log10 of the L2 range: {low:.1f} .. {high:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prepared", default="runs/esc10_aisfx", help="the aisfx store of ESC-10")
    parser.add_argument("--out", default="runs/heads_nested", help="searches, runs and results.json")
    parser.add_argument("--heads", nargs="+", default=["linear"], choices=sorted(HEADS))
    parser.add_argument("--epochs", type=int, default=60, help="every inner run's and the refit's schedule")
    parser.add_argument("--seed", type=int, default=0)
    main(parser.parse_args())
