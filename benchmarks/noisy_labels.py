"""The noisy-labels study on real crowd noise (issue 7): ESC-50 fold 4 and ESC-10.

Data: the 414 ESC-50 clips of ``esc50_fold4`` and the 400 ESC-10 clips, ESC-10's classes renamed
to their ESC-50 categories (50 classes in all); the clips some crowd worker judged (414 + 321)
form the pool. The pool is split into 5 cross-validation folds, stratified by class, with the
clips of one freesound recording in one fold, so an ESC-10 fold-4 clip and its ESC-50 twin are
never on both sides. Features: aisfx embeddings (prepared once into ``--prepared``).

For every seed and fold: test = the fold, true labels; curated = ``--curated-per-class`` clips
per class of the other folds, true labels; noisy = the other training clips, each with the label
one crowd worker gave it (the worker is drawn with the seed). One pipeline recipe per cell
(``earmark.pipeline``) trains, on the one Trainer with aisfx + ``attention_mil``:

* ``curated``  curated clips only;
* ``naive``    curated + noisy, labels as they are;
* ``stage1``   warm-up on the noisy clips (``stage0``, balanced), then fine-tune on curated;
* ``stage2``   the full multi-stage pipeline: stage1, the top-5 filter, Pi-model consistency;
* ``blacklist`` two rounds of out-of-fold audit (4 folds) blacklisting the clips whose scores
  prefer another class, then curated + remaining noisy;
* ``upper``    every training clip with its true label;
* ``naive_pi``, ``upper_pi``  controls: ``naive`` and ``upper`` trained with the Pi-model
  (``consistency``) too, to tell its regularisation from the handling of the noisy labels;
* ``stage2_nofilter`` stage2 without the filter (every noisy label kept), ``naive_long`` and
  ``upper_long``: naive and upper continued with stage2's optimizer for as many epochs (so both
  ends of the gap get stage2's training budget): controls of stage2's schedule.

Then: test accuracy and lwlrap over the pooled test folds (mean ± sd over seeds, paired bootstrap
over clips of the seed-mean metric), the share of the naive-to-upper gap the best pipeline
closes, and how well ``audit noisy`` finds the wrong crowd labels among the noisy clips (from the
first blacklisting round's out-of-fold scores) beside ``cleanlab.filter.find_label_issues`` on
the same scores (cleanlab is needed for this script only: ``pip install cleanlab``).

    .venv/bin/python benchmarks/noisy_labels.py            # resumable: finished stages are kept
    .venv/bin/python benchmarks/noisy_labels.py --seeds 2 &  # two processes share the seeds,
    .venv/bin/python benchmarks/noisy_labels.py --first-seed 2 --seeds 4; wait
    .venv/bin/python benchmarks/noisy_labels.py --seeds 4 --report-only
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from earmark.data.folds import assign_folds
from earmark.data.groups import group_keys
from earmark.data.labels import Labels
from earmark.data.loaders import load_dataset
from earmark.data.manifest import Manifest
from earmark.data.simulate import ESC10_TO_ESC50
from earmark.data.table import read_labels, write_labels
from earmark.features.aisfx import AisfxConfig
from earmark.pipeline import recipe_from_dict, run_pipeline
from noisy_labels_report import collect, markdown

RECORDING = r"^\d+-(\d+)-"  # the freesound id: one recording, one fold


def prepare_data(args: argparse.Namespace) -> tuple[Labels, dict[int, Labels]]:
    """The prepared aisfx store (made once), the true labels and each seed's crowd labels."""
    from earmark.prepare import prepare

    esc50_dir, esc10_dir = args.data / "esc50_fold4", args.data / "esc10"
    esc50 = load_dataset(
        "esc50", {"root": str(esc50_dir / "audio"), "metadata": str(esc50_dir / "esc50.csv")}
    )
    categories = esc50.labels.class_names
    esc10 = load_dataset("folder", {"root": str(esc10_dir / "audio"), "fold_pattern": r"^(\d+)-"})
    renamed = dataclasses.replace(
        esc10.labels, class_names=tuple(ESC10_TO_ESC50[name] for name in esc10.labels.class_names)
    )
    labels = Labels.merge(esc50.labels, renamed).with_classes(categories)
    prepared = args.prepared
    if not (prepared / "prepare.json").exists():
        manifest = Manifest(
            labels=labels,
            audio_paths=np.concatenate([esc50.audio_paths, esc10.audio_paths]),
            splits=np.array(["esc50"] * esc50.labels.num_clips + ["esc10"] * esc10.labels.num_clips),
            name="esc50-fold4+esc10",
        )
        started = time.perf_counter()
        prepare(manifest, prepared, AisfxConfig(), workers=1)
        print(
            f"prepared {labels.num_clips} clips with aisfx in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    truth = read_labels(prepared / "labels.csv")
    classes = args.out / "esc50_categories.txt"
    classes.write_text("\n".join(categories) + "\n")
    crowd: dict[int, Labels] = {}
    for seed in range(args.seeds):
        common = {"class_names": str(classes), "seed": seed}
        parts = [
            load_dataset(
                "crowd",
                {
                    "judgments": str(folder / "crowd_judgments.csv"),
                    "audio_root": str(folder / "audio"),
                    **common,
                }
                | ({"class_aliases": ESC10_TO_ESC50} if folder == esc10_dir else {}),
            ).labels
            for folder in (esc50_dir, esc10_dir)
        ]
        crowd[seed] = Labels.merge(*parts).with_classes(categories)
    return truth, crowd


def cell_tables(args, truth: Labels, crowd: Labels, folds: np.ndarray, seed: int, fold: int, cell: Path):
    """``study.csv`` (curated / noisy / test) and ``truth.csv`` (the same clips, true labels)."""
    pool = truth.select(clip_ids=crowd.clip_ids.tolist())
    training = folds != fold
    rng = np.random.default_rng([seed, fold])
    curated = np.zeros(pool.num_clips, dtype=bool)
    for c in range(pool.num_classes):
        rows = np.flatnonzero(training & pool.positive[:, c])
        curated[rng.permutation(rows)[: args.curated_per_class]] = True
    noisy = training & ~curated
    source = np.where(noisy, "noisy", "curated").astype(object)
    positive = np.where(noisy[:, None], crowd.positive, pool.positive)
    study = dataclasses.replace(
        pool, positive=positive, annotated=np.ones_like(positive), source=source, fold=folds
    )
    write_labels(study, cell / "study.csv")
    write_labels(dataclasses.replace(study, positive=pool.positive), cell / "truth.csv")


def recipe(args, cell: Path, seed: int, fold: int) -> dict:
    train = {
        "model": "attention_mil",
        "model_options": {"hidden_layers": 1, "hidden_units": 256, "dropout": 0.5},
        "segment_frames": 8,
        "crop": "head",
        "batch_size": 32,
        "epochs": args.epochs,
        "metric": "accuracy",
        "optim": {"name": "adam", "lr": 0.001, "weight_decay": 1e-5, "warmup_steps": 20},
        "data": {"test_folds": [fold]},
        "checkpoint_every": 100_000,
        "seed": seed,
        "device": "cpu",
        "report": False,
    }
    fine_tune = {"lr": 0.0003, "warmup_steps": 0}
    pi = {"weight": 1.0, "rampup_steps": 100}
    stages = [
        {
            "name": "truth",
            "kind": "relabel",
            "take": {"table": str(cell / "truth.csv"), "sources": ["noisy"]},
        },
        {"name": "upper", "kind": "train", "labels_from": "truth"},
        {"name": "curated", "kind": "train", "train": {"data": {"train_sources": ["curated"]}}},
        {"name": "naive", "kind": "train"},
        {"name": "warmup_set", "kind": "select", "sources": ["noisy"], "per_class": 50},
        {
            "name": "stage0",
            "kind": "train",
            "labels_from": "warmup_set",
            "train": {"data": {"train_sources": ["noisy"]}, "sampler": "balanced"},
        },
        {
            "name": "stage1",
            "kind": "train",
            "init_from": "stage0",
            "train": {"data": {"train_sources": ["curated"]}, "optim": fine_tune},
        },
        {"name": "filter", "kind": "filter", "model_from": "stage1", "rule": "top_k", "k": 5},
        {
            "name": "stage2",
            "kind": "train",
            "labels_from": "filter",
            "init_from": "stage1",
            "train": {
                "strategy": "consistency",
                "strategy_options": pi,
                "sampler": "labeled_unlabeled",
                "labeled_per_batch": 24,
                "optim": fine_tune,
            },
        },
        {
            "name": "clean",
            "kind": "filter",
            "out_of_fold": {"folds": 4, "groups": RECORDING},
            "rule": "rank",
            "rejected": "blacklist",
            "rounds": 2,
        },
        {"name": "blacklist", "kind": "train", "labels_from": "clean"},
        # controls: the Pi-model without any noise handling, on the crowd and on the true labels
        {"name": "naive_pi", "kind": "train", "train": {"strategy": "consistency", "strategy_options": pi}},
        {
            "name": "upper_pi",
            "kind": "train",
            "labels_from": "truth",
            "train": {"strategy": "consistency", "strategy_options": pi},
        },
        # controls of stage2's schedule: the same continuation without the filter, and plain
        # training continued from naive with stage2's optimizer
        {
            "name": "stage2_nofilter",
            "kind": "train",
            "init_from": "stage1",
            "train": {"strategy": "consistency", "strategy_options": pi, "optim": fine_tune},
        },
        {"name": "naive_long", "kind": "train", "init_from": "naive", "train": {"optim": fine_tune}},
        {
            "name": "upper_long",
            "kind": "train",
            "labels_from": "truth",
            "init_from": "upper",
            "train": {"optim": fine_tune},
        },
    ]
    for stage in stages:
        if stage["kind"] == "train":  # a class whose clips all come from one recording has no
            stage["check_curated"] = False  # training clip when its fold is the test fold
    return {
        "prepared": str(args.prepared),
        "labels": str(cell / "study.csv"),
        "out": str(cell),
        "train": train,
        "stages": stages,
    }


def run_all(args, truth: Labels, crowd: dict[int, Labels], folds: np.ndarray) -> None:
    started = time.perf_counter()
    for seed in range(args.first_seed, args.seeds):
        for fold in range(1, args.folds + 1):
            cell = args.out / f"s{seed}" / f"f{fold}"
            cell.mkdir(parents=True, exist_ok=True)
            cell_tables(args, truth, crowd[seed], folds, seed, fold, cell)
            began = time.perf_counter()
            run_pipeline(recipe_from_dict(recipe(args, cell, seed, fold), source=f"{cell}/recipe"))
            print(
                f"seed {seed} fold {fold}: {time.perf_counter() - began:.0f} s "
                f"({(time.perf_counter() - started) / 60:.1f} min so far)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/noisy_study"))
    parser.add_argument("--prepared", type=Path, default=Path("runs/noisy_study/prepared"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="train only seeds first-seed .. seeds-1 (to share the seeds between processes); "
        "the report still needs all of them",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--curated-per-class", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--report-only", action="store_true", help="only collect finished runs")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # small models: one thread is faster on a shared 2-core machine
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    truth, crowd = prepare_data(args)
    pool = truth.select(clip_ids=sorted(crowd[0].clip_ids.tolist()))
    folds = assign_folds(pool.positive, folds=args.folds, seed=0, groups=group_keys(pool.clip_ids, RECORDING))
    fold_of = dict(zip(pool.clip_ids.tolist(), folds.tolist(), strict=True))
    if not args.report_only:
        for seed in range(args.seeds):
            order = crowd[seed].clip_ids.tolist()
            crowd[seed] = crowd[seed].select(clip_ids=sorted(order))
        run_all(args, truth, crowd, np.array([fold_of[c] for c in crowd[0].clip_ids.tolist()]))
        if args.first_seed:
            print(f"trained seeds {args.first_seed}..{args.seeds - 1}; report with --report-only")
            return
    results = collect(args, truth, crowd)
    results["seconds"] = time.perf_counter() - started
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    (args.out / "results.md").write_text(text + "\n")
    print(text)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
