r"""Embedding heads on ESC-10 aisfx (issue 13): earmark's heads against a logistic-regression probe.

Set-up (once):

    earmark prepare folder --root ../shared/data/esc10/audio_44k --out runs/esc10_aisfx \
        --set 'fold_pattern=^(\d+)-' --frontend-set name=aisfx

Then, on that one store, for each outer fold f (test fold f, training folds the other four):

* ``lr_max`` / ``lr_mean_max``: scikit-learn's ``LogisticRegression`` on max-pooled and on
  mean ‖ max-pooled embeddings, standardised (``StandardScaler`` fitted on the training data);
  ``C`` chosen by a 5-fold inner cross-validation on the training folds, grouped by recording
  (the clip id's ``<fold>-<freesound id>`` prefix), then refitted on all training folds;
* ``lr_max_one_vs_rest``: a diagnostic, the max-pooled probe with one sigmoid per class (as
  earmark's heads, trained with per-class binary cross-entropy) instead of a softmax;
* ``linear``, ``mlp``, ``attention_mil`` (the released model, earmark's new default) and
  ``attention_mil_old`` (standardisation, batch norm and residual off, softmax attention): each
  trained by ``earmark.training.Trainer`` on the training folds minus a validation share (20 %
  of the recordings of each class, seeded per fold), the best checkpoint by the validation
  ``--checkpoint-metric`` kept, for ``--seeds`` seeds; every setting of the head's grid (fixed
  in :data:`GRIDS` before any run) is trained, and on each fold the one with the best
  validation accuracy (mean over seeds; ties: the checkpoint metric, or lwlrap when that is
  accuracy, then grid order) is the head's result on that fold. The test fold plays no part in
  any choice. The setting with the best validation figures over all folds is the head's
  "recipe setting", and the head whose recipe setting has the best is the recipe's model.

The script prints the validation figures each choice was made on before any test figure, and
writes everything to ``<out>/results.json``. One torch thread (the machine has 2 cores shared
with other jobs). Runs already finished are not redone, so the script can be interrupted.

    .venv/bin/python benchmarks/embedding_heads.py --prepared runs/esc10_aisfx \
        --out runs/embedding_heads_ap --checkpoint-metric ap_macro --seeds 3

``--output softmax`` trains every head with one softmax over the classes (the categorical
cross-entropy, ``strategy_options: {output: softmax}``) instead of one sigmoid per class, as the
probe does; ``--heads`` limits the heads trained.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and torch start their thread pools

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from earmark.config import from_dict
from earmark.data.labels import Labels
from earmark.data.table import read_labels, write_labels
from earmark.predictions import Predictions
from earmark.training.config import DataConfig, TrainConfig
from earmark.training.selection import open_prepared
from earmark.training.trainer import Trainer

FOLDS = (1, 2, 3, 4, 5)
VALID_FOLD = 9  # each outer fold's validation share of its training folds is moved here
VALID_SHARE = 0.2
RECORDING = re.compile(r"^(\d+-\d+)-")  # ESC clip ids: <fold>-<freesound id>-<take>
LR_C = tuple(float(c) for c in np.logspace(-4, 2, 13))

COMMON: dict[str, Any] = {
    "strategy": "supervised",
    "segment_frames": 8,  # aisfx: 3-6 frames per 5 s clip, so every clip is whole
    "crop": "head",
    "batch_size": 32,
    "epochs": 60,
    "metric": "accuracy",
    "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "warmup_steps": 20, "schedule": "cosine"},
    "checkpoint_every": 100_000,
    "predict_hop_frames": 8,
    "device": "cpu",
    "num_workers": 0,
    "amp": False,
    "report": False,
}
OLD_MIL = {"standardize": False, "input_norm": False, "hidden_norm": False, "residual": False}
MIL_SHAPES = ((1, 512), (2, 512), (3, 128))  # 512 = the aisfx dim, so the residual is used


def _mil(flags: dict[str, Any], pooling: str) -> list[dict[str, Any]]:
    return [
        {"hidden_layers": layers, "hidden_units": units, "dropout": dropout, "pooling": pooling, **flags}
        for layers, units in MIL_SHAPES
        for dropout in (0.3, 0.6)
    ]


#: Every head's settings: (model, model_options, optim overrides). Fixed before any run.
GRIDS: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {
    "linear": [
        ("linear", {"statistics": statistics, "dropout": dropout}, {"lr": lr})
        for statistics in (["max"], ["mean", "max"])
        for dropout in (0.0, 0.5)
        for lr in (1e-3, 1e-2)
    ],
    "mlp": [
        ("mlp", {"statistics": ["mean", "max"], "hidden_units": units, "dropout": dropout}, {})
        for units in (256, 512)
        for dropout in (0.3, 0.6)
    ],
    "attention_mil": [("attention_mil", options, {}) for options in _mil({}, "attention_sigmoid")],
    "attention_mil_old": [
        ("attention_mil", options, {}) for options in _mil(OLD_MIL, "attention_probability")
    ],
}


def setting_name(model: str, options: dict[str, Any], optim: dict[str, Any]) -> str:
    parts = [f"{k}={'+'.join(v) if isinstance(v, list) else v}" for k, v in {**options, **optim}.items()]
    return ",".join(p for p in parts if p.split("=")[0] not in OLD_MIL and not p.startswith("pooling="))


# ------------------------------------------------------------------ data


def recordings(clip_ids: np.ndarray) -> np.ndarray:
    keys = []
    for clip in clip_ids.tolist():
        match = RECORDING.match(clip)
        if match is None:
            raise ValueError(f"clip id {clip!r} does not start with <fold>-<freesound id>-")
        keys.append(match.group(1))
    return np.array(keys)


def validation_rows(labels: Labels, train_rows: np.ndarray, seed: int) -> np.ndarray:
    """A seeded share of the recordings of each class among ``train_rows`` (whole recordings)."""
    rng = np.random.default_rng(seed)
    groups = recordings(labels.clip_ids)
    classes = labels.positive.argmax(axis=1)
    chosen: list[int] = []
    for k in range(labels.num_classes):
        rows = train_rows[classes[train_rows] == k]
        keys = np.unique(groups[rows])
        picked = rng.choice(keys, size=max(1, round(VALID_SHARE * len(keys))), replace=False)
        chosen += rows[np.isin(groups[rows], picked)].tolist()
    return np.sort(np.array(chosen))


def fold_labels(labels: Labels, fold: int, out: Path) -> Path:
    """The label table of outer fold ``fold``: its validation share moved to :data:`VALID_FOLD`."""
    path = out / "labels" / f"fold{fold}.csv"
    if not path.exists():
        train_rows = np.flatnonzero(labels.fold != fold)
        new_fold = labels.fold.copy()
        new_fold[validation_rows(labels, train_rows, seed=1000 + fold)] = VALID_FOLD
        write_labels(dataclasses.replace(labels, fold=new_fold), path)
    return path


def accuracy(predictions: Predictions, labels: Labels) -> float:
    predictions, labels = predictions.align(labels, allow_subset=False)
    return float((predictions.scores.argmax(axis=1) == labels.positive.argmax(axis=1)).mean())


# ------------------------------------------------------------------ logistic-regression probe


def pooled(frames: list[np.ndarray], statistics: tuple[str, ...]) -> np.ndarray:
    reducers = {"mean": np.mean, "max": np.max}
    return np.stack([np.concatenate([reducers[s](f, axis=0) for s in statistics]) for f in frames])


def lr_probe(
    features: np.ndarray, labels: Labels, train: np.ndarray, test: np.ndarray, *, one_vs_rest: bool = False
) -> dict:
    """Standardise + logistic regression, C by 5-fold CV over ``train`` grouped by recording.

    The regression is multinomial (softmax), or one sigmoid per class with ``one_vs_rest`` (as
    earmark's heads, trained with per-class binary cross-entropy).
    """
    classes = labels.positive.argmax(axis=1)
    started = time.perf_counter()
    regression = LogisticRegression(max_iter=5000)
    classifier = OneVsRestClassifier(regression) if one_vs_rest else regression
    parameter = "onevsrestclassifier__estimator__C" if one_vs_rest else "logisticregression__C"
    search = GridSearchCV(
        make_pipeline(StandardScaler(), classifier),
        {parameter: list(LR_C)},
        cv=GroupKFold(n_splits=5),
        scoring="accuracy",
        n_jobs=1,
    )
    search.fit(features[train], classes[train], groups=recordings(labels.clip_ids[train]))
    seconds = time.perf_counter() - started
    return {
        "C": search.best_params_[parameter],
        "inner_accuracy": float(search.best_score_),
        "test_accuracy": float((search.predict(features[test]) == classes[test]).mean()),
        "seconds": seconds,
    }


# ------------------------------------------------------------------ earmark heads

Setting = tuple[str, dict[str, Any], dict[str, Any]]


def train_head(args: argparse.Namespace, head: str, setting: Setting, fold: int, seed: int) -> dict:
    """Train (unless done) one setting on one outer fold; its validation and test figures."""
    model, options, optim = setting
    run_dir = Path(args.out) / "runs" / head / setting_name(*setting) / f"s{seed}" / f"fold{fold}"
    record = run_dir / "bench.json"
    labels_path = Path(args.out) / "labels" / f"fold{fold}.csv"
    if not record.exists():
        config = {
            **COMMON,
            "data": {
                "prepared": args.prepared,
                "labels": str(labels_path),
                "train_folds": [f for f in FOLDS if f != fold],
                "valid_folds": [VALID_FOLD],
                "test_folds": [fold],
            },
            "model": model,
            "model_options": options,
            "optim": {**COMMON["optim"], **optim},
            "metric": args.checkpoint_metric,
            "seed": seed,
            "strategy_options": {"output": args.output},
        }
        started = time.perf_counter()
        trainer = Trainer(from_dict(TrainConfig, config), run_dir)
        summary = trainer.fit()
        seconds = time.perf_counter() - started
        full = read_labels(labels_path)
        result = {
            **{f"valid_{k}": summary["valid"][k] for k in ("accuracy", "lwlrap", "ap_macro")},
            "test_accuracy": accuracy(
                Predictions.read(run_dir / "predictions" / "test.npz"), full.select(folds=[fold])
            ),
            "seconds": seconds,
            "steps": summary["steps"],
            "parameters": sum(p.numel() for p in trainer.model.parameters()),
        }
        record.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return dict(json.loads(record.read_text(encoding="utf-8")))


def seed_mean(runs: list[dict]) -> dict:
    """The figures of one setting on one fold, averaged over seeds."""
    return {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}


def choose(results: list[dict], tie: str) -> int:
    """Index of the best setting by validation accuracy, then validation ``tie``, then grid order."""
    keys = [(r["valid_accuracy"], r[f"valid_{tie}"], -i) for i, r in enumerate(results)]
    return max(range(len(results)), key=lambda i: keys[i])


# ------------------------------------------------------------------ report


def mean_sd(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def run_probes(frames: list[np.ndarray], labels: Labels, out: Path) -> dict[str, list[dict]]:
    """The logistic-regression probes, on all training folds and on the heads' training clips."""
    probes: dict[str, list[dict]] = {}
    with threadpool_limits(1):
        for statistics in (("max",), ("mean", "max")):
            features = pooled(frames, statistics)
            name = "lr_" + "_".join(statistics)
            probes[name], probes[name + "_heads_clips"] = [], []
            for fold in FOLDS:
                test = labels.fold == fold
                heads_train = read_labels(out / "labels" / f"fold{fold}.csv").fold
                heads_train = (heads_train != fold) & (heads_train != VALID_FOLD)
                probes[name].append(lr_probe(features, labels, ~test, test))
                probes[name + "_heads_clips"].append(lr_probe(features, labels, heads_train, test))
        # diagnostic: one sigmoid per class, as earmark's heads, instead of a softmax
        features = pooled(frames, ("max",))
        probes["lr_max_one_vs_rest"] = [
            lr_probe(features, labels, labels.fold != f, labels.fold == f, one_vs_rest=True) for f in FOLDS
        ]
    for key, runs in probes.items():
        print(f"{key}: C per fold {[r['C'] for r in runs]} (chosen by inner grouped CV)")
    return probes


def run_heads(args: argparse.Namespace, tie: str) -> dict[str, Any]:
    heads: dict[str, Any] = {}
    seeds = range(args.seeds)
    for head, grid in GRIDS.items():
        if args.heads and head not in args.heads:
            continue
        per_setting = []  # [setting][fold] -> figures averaged over seeds
        for setting in grid:
            folds = [seed_mean([train_head(args, head, setting, f, s) for s in seeds]) for f in FOLDS]
            per_setting.append(folds)
            print(
                f"{head:18s} {setting_name(*setting):50s} valid acc "
                + " ".join(f"{r['valid_accuracy']:.3f}" for r in folds)
                + f"  mean {np.mean([r['valid_accuracy'] for r in folds]):.3f}"
                + f"  valid {tie} {np.mean([r[f'valid_{tie}'] for r in folds]):.4f}",
                flush=True,
            )
        chosen = [choose([runs[i] for runs in per_setting], tie) for i in range(len(FOLDS))]
        overall = [seed_mean(runs) for runs in per_setting]
        recipe = choose(overall, tie)
        heads[head] = {
            "settings": [setting_name(*s) for s in grid],
            "runs": per_setting,
            "chosen_per_fold": chosen,
            "recipe_setting": recipe,
            "recipe_valid": overall[recipe],
            "test_accuracy": [per_setting[c][i]["test_accuracy"] for i, c in enumerate(chosen)],
            "recipe_test_accuracy": [r["test_accuracy"] for r in per_setting[recipe]],
            "seconds": [per_setting[c][i]["seconds"] for i, c in enumerate(chosen)],
            "grid_seconds": [sum(runs[i]["seconds"] for runs in per_setting) for i in range(len(FOLDS))],
        }
        print(
            f"{head}: chosen per fold (by that fold's validation figures only): "
            + ", ".join(f"fold {f}: {setting_name(*grid[c])}" for f, c in zip(FOLDS, chosen, strict=True))
        )
        print(f"{head}: best mean validation figures over the folds: {setting_name(*grid[recipe])}")
    return heads


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stores, labels = open_prepared(DataConfig(prepared=args.prepared))
    frames = [np.asarray(stores[c], dtype=np.float64) for c in labels.clip_ids.tolist()]
    for fold in FOLDS:
        fold_labels(labels, fold, out)
    tie = "lwlrap" if args.checkpoint_metric == "accuracy" else args.checkpoint_metric
    results: dict[str, Any] = {
        "folds": list(FOLDS),
        "seeds": args.seeds,
        "checkpoint_metric": args.checkpoint_metric,
        "probe": run_probes(frames, labels, out),
        "heads": run_heads(args, tie),
    }
    best = choose([h["recipe_valid"] for h in results["heads"].values()], tie)
    results["recipe_head"] = list(results["heads"])[best]
    print(f"recipe: {results['recipe_head']} (the best mean validation figures of all heads' settings)")
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    report(results)


def report(results: dict) -> None:
    """Markdown table of the test figures (printed after every choice was made)."""
    rows: dict[str, tuple[list[float], list[float]]] = {}
    for name, runs in results["probe"].items():
        rows[name] = ([r["test_accuracy"] for r in runs], [r["seconds"] for r in runs])
    for head, data in results["heads"].items():
        rows[head] = (data["test_accuracy"], data["seconds"])
    head = results["recipe_head"]
    rows[f"{head}, recipe setting"] = (results["heads"][head]["recipe_test_accuracy"], rows[head][1])
    reference = {name: np.mean(rows[name][0]) for name in ("lr_max", "lr_mean_max")}
    print("\n| head | " + " | ".join(f"fold {f}" for f in FOLDS) + " | mean ± sd | vs lr_max | "
          "vs lr_mean_max | s / fold |")  # fmt: skip
    print("|---" * (len(FOLDS) + 5) + "|")
    for name, (accuracies, seconds) in rows.items():
        ratio = " | ".join(f"{np.mean(accuracies) / reference[r]:.3f}" for r in ("lr_max", "lr_mean_max"))
        print(
            f"| {name} | " + " | ".join(f"{a:.3f}" for a in accuracies)
            + f" | {mean_sd(accuracies)} | {ratio} | {np.mean(seconds):.1f} |"
        )  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prepared", default="runs/esc10_aisfx", help="the aisfx store of ESC-10")
    parser.add_argument("--out", default="runs/embedding_heads", help="where runs and results.json go")
    parser.add_argument(
        "--checkpoint-metric",
        default="ap_macro",
        choices=["accuracy", "ap_macro"],
        help="validation metric of the best checkpoint (accuracy saturates early on 60 clips)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per setting and fold")
    parser.add_argument(
        "--output", default="sigmoid", choices=["sigmoid", "softmax"], help="the heads' output and loss"
    )
    parser.add_argument("--heads", nargs="*", choices=sorted(GRIDS), help="train only these heads")
    main(parser.parse_args())
