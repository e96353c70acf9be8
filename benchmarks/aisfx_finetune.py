r"""Fine-tuning aisfx's CNN on ESC-10 (issue 13): 5-fold accuracy and CPU cost per clip.

Set-up (once; the script runs it when ``--prepared`` is absent):

    earmark prepare folder --root ../shared/data/esc10/audio_44k --out runs/esc10_aisfx_mel \
        --set 'fold_pattern=^(\d+)-' --frontend-set name=aisfx_mel

Phases (``--phase``), each writing JSON under ``--out`` and skipping runs already finished:

``tune``
    On test fold 1's training folds (2-5) only: the recipe (``recipes/esc10_aisfx_finetune.yaml``)
    with each ``backbone_lr_scale`` of :data:`TUNE_SCALES`, trained on those folds minus a
    validation share (``data.valid_fraction`` 0.2, whole recordings) and validated after every
    epoch. Fold 1 takes no part (it is neither trained nor scored). The setting with the best
    validation accuracy (ties: validation macro AP, then the lower scale) is printed with every
    validation figure; nothing else is printed.
``cv``
    Five folds (test fold = ESC-10 fold), the recipe with ``--backbone-lr-scale``, trained on all
    four training folds, the last model scored on the test fold. Records the test accuracy, the
    CPU-seconds of training per training clip per epoch (``time.process_time`` from the first to
    the last step, one torch thread) and the CPU-seconds per predicted clip (scoring the test
    fold again, after training). Then the same-run logistic-regression probe on max-pooled aisfx
    embeddings (``benchmarks/embedding_heads.py``'s ``lr_probe``, called, on ``--embeddings``)
    and the embedding recipe's cost (``recipes/esc10_aisfx.yaml`` trained on fold 1's training
    folds, plus the embedding front-end's CPU-seconds per clip).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/aisfx_finetune.py --phase tune
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/aisfx_finetune.py --phase cv
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and torch start their thread pools

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import soundfile
import torch
from threadpoolctl import threadpool_limits

from earmark.config import from_dict, load_yaml
from earmark.data.labels import Labels
from earmark.features import build_frontend, frontend_config_from_dict
from earmark.predictions import Predictions
from earmark.training.config import DataConfig, TrainConfig
from earmark.training.selection import open_prepared
from earmark.training.trainer import Trainer

FOLDS = (1, 2, 3, 4, 5)
TUNE_FOLD = 1  # tuning uses this fold's training folds (2-5) only
TUNE_SCALES = (0.0, 0.01, 0.1)  # 0: the pretrained network frozen
RECIPE = Path("recipes/esc10_aisfx_finetune.yaml")
EMBEDDING_RECIPE = Path("recipes/esc10_aisfx.yaml")
BENCH: dict[str, Any] = {"device": "cpu", "num_workers": 0, "report": False, "checkpoint_every": 100_000}


def load_embedding_heads() -> ModuleType:
    """``benchmarks/embedding_heads.py`` as a module (its probe is called, not copied)."""
    path = Path(__file__).with_name("embedding_heads.py")
    spec = importlib.util.spec_from_file_location("embedding_heads", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare(args: argparse.Namespace) -> None:
    """Prepare ESC-10 with the ``aisfx_mel`` front-end unless ``--prepared`` exists."""
    if (Path(args.prepared) / "prepare.json").exists():
        return
    command = [sys.executable, "-m", "earmark", "prepare", "folder", "--root", args.audio, "--out"]
    command += [args.prepared, "--set", r"fold_pattern=^(\d+)-", "--frontend-set", "name=aisfx_mel"]
    subprocess.run(command, check=True)


def recipe_config(path: Path, data: dict[str, Any], **overrides: Any) -> TrainConfig:
    """The recipe at ``path`` with ``data`` (merged) and top-level ``overrides``."""
    raw = dict(load_yaml(path))
    raw.pop("tune", None)
    raw["data"] = {**raw.get("data", {}), **data}
    for key, value in overrides.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return from_dict(TrainConfig, {**raw, **BENCH})


def accuracy(trainer: Trainer, split: str, predictions: Any) -> float:
    labels: Labels = trainer.splits[split]
    aligned, labels = predictions.align(labels, allow_subset=False)
    return float((aligned.scores.argmax(axis=1) == labels.positive.argmax(axis=1)).mean())


def timed_fit(trainer: Trainer) -> tuple[dict[str, Any], float, float]:
    """Fit; CPU-seconds from the start of the loop to the last step, and from then to the end.

    The second share is the final scoring of the test (and validation) split, plus writing
    the last checkpoint once.
    """
    marks: list[float] = []
    trainer.on_step = lambda step, total: marks.append(time.process_time())
    started = time.process_time()
    summary = trainer.fit(overwrite=True)
    last = marks[-1] if marks else started
    return summary, last - started, time.process_time() - last


# ------------------------------------------------------------------ tune


def tune(args: argparse.Namespace) -> None:
    out = Path(args.out) / "tune"
    results = {}
    for scale in TUNE_SCALES:
        run_dir = out / f"scale{scale}"
        record = run_dir / "bench.json"
        if not record.exists():
            config = recipe_config(
                RECIPE,
                {
                    "prepared": args.prepared,
                    "train_folds": [f for f in FOLDS if f != TUNE_FOLD],
                    "valid_fraction": 0.2,
                    "test_folds": [],
                },
                model_options={"backbone_lr_scale": scale},
                epochs=args.epochs,
            )
            trainer = Trainer(config, run_dir)
            summary, seconds, _ = timed_fit(trainer)
            curve = [
                {k: row[k] for k in ("epoch", "accuracy", "ap_macro", "lwlrap")}
                for row in trainer.log.rows()
                if row.get("split") == "valid"
            ]
            result = {"curve": curve, "train_cpu_seconds": seconds, "clips": summary["clips"]}
            record.write_text(json.dumps(result, indent=2), encoding="utf-8")
        results[scale] = json.loads(record.read_text(encoding="utf-8"))
        print(f"backbone_lr_scale {scale}: validation after each epoch (fold {TUNE_FOLD} not used)")
        for row in results[scale]["curve"]:
            print(
                f"  epoch {row['epoch'] + 1}: accuracy {row['accuracy']:.3f}, macro AP {row['ap_macro']:.4f}"
            )
    keys = {s: max((r["accuracy"], r["ap_macro"]) for r in results[s]["curve"]) for s in TUNE_SCALES}
    chosen = max(TUNE_SCALES, key=lambda s: (*keys[s], -s))
    print(f"chosen: backbone_lr_scale {chosen} (best validation accuracy, then macro AP)")
    (out / "chosen.json").write_text(
        json.dumps({"backbone_lr_scale": chosen, "keys": keys}), encoding="utf-8"
    )


# ------------------------------------------------------------------ cross-validation


def cv_fold(args: argparse.Namespace, fold: int) -> dict[str, Any]:
    run_dir = Path(args.out) / f"cv_scale{args.backbone_lr_scale}" / f"fold-{fold}"
    record = run_dir / "bench.json"
    if not record.exists():
        config = recipe_config(
            RECIPE,
            {"prepared": args.prepared, "valid_fraction": 0.0, "test_folds": [fold]},
            model_options={"backbone_lr_scale": args.backbone_lr_scale},
            epochs=args.epochs,
        )
        trainer = Trainer(config, run_dir)
        summary, seconds, predict_seconds = timed_fit(trainer)
        test = trainer.splits["test"]
        predictions = Predictions.read(run_dir / "predictions" / "test.npz")
        result = {
            "test_accuracy": accuracy(trainer, "test", predictions),
            "summary_test": summary["test"],
            "train_cpu_seconds": seconds,
            "steps": summary["steps"],
            "train_clips": summary["clips"]["train"],
            "epochs": config.epochs,
            "train_cpu_per_clip_epoch": seconds / (summary["clips"]["train"] * config.epochs),
            "predict_cpu_per_clip": predict_seconds / test.num_clips,
        }
        record.write_text(json.dumps(result, indent=2), encoding="utf-8")
    result: dict[str, Any] = json.loads(record.read_text(encoding="utf-8"))
    return result


def embedding_recipe_cost(args: argparse.Namespace) -> dict[str, float]:
    """The embedding recipe on test fold 1: CPU-seconds per training clip per epoch and per
    predicted clip, from the stored embeddings (no audio decoded, no CNN run)."""
    run_dir = Path(args.out) / "embedding_recipe" / "fold-1"
    record = run_dir / "bench.json"
    if not record.exists():
        config = recipe_config(EMBEDDING_RECIPE, {"prepared": args.embeddings, "test_folds": [1]})
        trainer = Trainer(config, run_dir)
        summary, seconds, predict = timed_fit(trainer)
        result = {
            "train_cpu_per_clip_epoch": seconds / (summary["clips"]["train"] * config.epochs),
            "predict_cpu_per_clip": predict / trainer.splits["test"].num_clips,
            "note": "training includes the validation passes after each epoch",
        }
        record.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return dict(json.loads(record.read_text(encoding="utf-8")))


def frontend_cost(args: argparse.Namespace, name: str, clips: int = 20) -> float:
    """CPU-seconds per clip of front-end ``name`` on the first ``clips`` clips (decoding excluded)."""
    frontend = build_frontend(frontend_config_from_dict({"name": name}))
    paths = sorted(Path(args.audio).glob("*/*.ogg"))[:clips]
    waveforms = [soundfile.read(p, dtype="float32")[0] for p in paths]
    started = time.process_time()
    frontend.compute_batch(waveforms)
    return (time.process_time() - started) / len(waveforms)


def cv(args: argparse.Namespace) -> None:
    folds = [f for f in FOLDS if f in args.folds]
    runs = {f: cv_fold(args, f) for f in folds}
    heads = load_embedding_heads()
    stores, labels = open_prepared(DataConfig(prepared=args.embeddings))
    frames = [np.asarray(stores[c], dtype=np.float64) for c in labels.clip_ids.tolist()]
    features = heads.pooled(frames, ("max",))
    with threadpool_limits(1):
        probe = {f: heads.lr_probe(features, labels, labels.fold != f, labels.fold == f) for f in folds}
    embedding = embedding_recipe_cost(args)
    costs = {
        "aisfx (embeddings)": frontend_cost(args, "aisfx"),
        "aisfx_mel": frontend_cost(args, "aisfx_mel"),
    }
    print("\n| fold | " + " | ".join(str(f) for f in folds) + " | mean ± sd |")
    print("|---" * (len(folds) + 2) + "|")
    for name, values in (
        (f"aisfx_cnn fine-tuned (scale {args.backbone_lr_scale})", [runs[f]["test_accuracy"] for f in folds]),
        ("logistic regression, max-pooled aisfx embeddings", [probe[f]["test_accuracy"] for f in folds]),
    ):
        sd = np.std(values, ddof=1) if len(values) > 1 else float("nan")
        print(
            f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + f" | {np.mean(values):.3f} ± {sd:.3f} |"
        )
    print(f"probe C per fold (inner grouped CV): {[probe[f]['C'] for f in folds]}")
    train = np.mean([runs[f]["train_cpu_per_clip_epoch"] for f in folds])
    predict = np.mean([runs[f]["predict_cpu_per_clip"] for f in folds])
    print(f"\naisfx_cnn: {train:.3f} CPU-s per training clip per epoch, {predict:.3f} per predicted clip")
    print(
        f"embedding recipe (fold 1): {embedding['train_cpu_per_clip_epoch']:.5f} CPU-s per training clip "
        f"per epoch, {embedding['predict_cpu_per_clip']:.5f} per predicted clip"
    )
    print(
        "front-end CPU-s per clip (20 clips, decoding excluded): "
        + ", ".join(f"{k} {v:.3f}" for k, v in costs.items())
    )
    summary = {"runs": runs, "probe": probe, "embedding_recipe": embedding, "frontend_cpu_per_clip": costs}
    path = Path(args.out) / f"cv_scale{args.backbone_lr_scale}" / "results.json"
    path.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phase", choices=["tune", "cv"], required=True)
    parser.add_argument("--audio", default="../shared/data/esc10/audio_44k", help="ESC-10 at 44.1 kHz")
    parser.add_argument("--prepared", default="runs/esc10_aisfx_mel", help="the aisfx_mel store of ESC-10")
    parser.add_argument(
        "--embeddings", default="runs/esc10_aisfx", help="the aisfx embedding store of ESC-10"
    )
    parser.add_argument("--out", default="runs/aisfx_finetune", help="where runs and results go")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument(
        "--backbone-lr-scale", type=float, default=None, help="cv: the chosen scale (default: the recipe's)"
    )
    parser.add_argument("--folds", type=int, nargs="+", default=list(FOLDS), help="cv: folds to run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    prepare(args)
    recipe = load_yaml(RECIPE)
    if args.epochs is None:
        args.epochs = int(recipe["epochs"])
    if args.backbone_lr_scale is None:
        args.backbone_lr_scale = float(recipe["model_options"]["backbone_lr_scale"])
    tune(args) if args.phase == "tune" else cv(args)


if __name__ == "__main__":
    main()
