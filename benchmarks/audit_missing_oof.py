"""In-fold against out-of-fold scores for `audit missing`, and the rate estimates against the truth.

Missing positives (real AudioSet VGGish sample, 975 clips, 527 classes; the folds of
``missing_audioset.py``: a seeded permutation, fold 5 left out). The 780 clips of folds 1-4 are
the audited training set; per seed, one of two simulations with known truth:

* ``positives_only``: 20 % of their positives dropped (they become implicit negatives), models
  trained with B0 (missing = negative), as on AudioSet;
* ``explicit``: every entry annotated (AudioSet's implicit negatives taken as negatives), then
  40 % of the entries made missing at random, models trained with B1 (missing entries masked).

Then, with one config (the released ``attention_mil``, 60 epochs, no validation):

* **in-fold**: one model trained on all 780 clips scores its own training clips (what
  ``earmark audit missing --run RUN`` does);
* **out-of-fold**: ``earmark cv`` over folds 1-4 (4 models, each trained on 585 clips), every clip
  scored by the model that did not train on it (``earmark audit missing --run CV``).

For each: the audit's average precision at finding the hidden positives among the missing
entries, its precision in the top N (N = the number hidden), and ``estimate_missing_rate``
against the true share of positives that are missing.

Noisy labels: ``estimate_noise_rate`` against the true share of wrong labels, (``--noisy-study``)
on the out-of-fold scores the noisy-labels study saved for its noisy clips
(``<study>/s<seed>/f<fold>/clean/scores.npz``, crowd labels in ``study.csv``, true labels in
``truth.csv``; needs no training), and (``--crowd-seeds``) on ESC-10 labelled by one crowd worker
per clip (real judgments, 4.3 % of them wrong), scored out of fold by a 5-fold cross-validation
of an aisfx embedding head trained on those labels.

    .venv/bin/python benchmarks/audit_missing_oof.py --seeds 3
    .venv/bin/python benchmarks/audit_missing_oof.py --seeds 2 --scenario explicit
    .venv/bin/python benchmarks/audit_missing_oof.py --seeds 0 --noisy-study runs/noisy_study_e140 \
        --crowd-seeds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
from collections.abc import Callable
from pathlib import Path

import numpy as np

from earmark.audit import estimate_missing_rate, estimate_noise_rate, suspected_missing
from earmark.config import from_dict
from earmark.data.labels import Labels
from earmark.data.simulate import drop_labels
from earmark.data.table import read_labels, write_labels
from earmark.metrics.curves import average_precision_per_class
from earmark.pipeline.audit_run import run_training_clips
from earmark.pipeline.scoring import score_run
from earmark.predictions import Predictions
from earmark.training.config import TrainConfig
from earmark.training.crossval import cross_validate

SCENARIOS = {
    # name: (drop mode, rate, strategy options)
    "positives_only": ("positives_only", 0.2, {"missing": "negative"}),
    "explicit": ("explicit", 0.4, {"missing": "mask"}),
}


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def simulate(original: Labels, scenario: str, seed: int) -> Labels:
    """The audited clips' labels with the scenario's entries hidden (seeded)."""
    mode, rate, _ = SCENARIOS[scenario]
    if mode == "explicit":
        original = original.with_matrices(annotated=np.ones_like(original.annotated))
    return drop_labels(original, rate=rate, mode=mode, seed=seed)  # type: ignore[arg-type]


def train_config(prepared: Path, labels: Path, scenario: str, seed: int, epochs: int) -> TrainConfig:
    """The AudioSet testbed's model and schedule (as in ``missing_audioset.py``), no validation."""
    return from_dict(
        TrainConfig,
        {
            "data": {"prepared": str(prepared), "labels": str(labels), "train_folds": [1, 2, 3, 4]},
            "model": "attention_mil",  # the released model's standardisation, batch norm, residual
            "model_options": {"hidden_layers": 2, "hidden_units": 256, "dropout": 0.4},
            "strategy": "supervised",
            "strategy_options": SCENARIOS[scenario][2],
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


def audit_figures(labels: Labels, scores: np.ndarray, truth: Labels) -> dict:
    """How the audit ranks the hidden positives, and the missing-rate estimate against the truth."""
    truth = truth.select(clip_ids=labels.clip_ids.tolist())
    hidden = truth.positive & labels.missing
    items = suspected_missing(labels, scores)
    row_of = {c: r for r, c in enumerate(labels.clip_ids.tolist())}
    hit = np.array([hidden[row_of[i.clip], labels.class_index(i.class_name)] for i in items])
    ranking = -np.arange(len(items), dtype=float)
    estimate = estimate_missing_rate(labels, scores)
    return {
        "hidden": int(hidden.sum()),
        "missing_entries": len(items),
        "audit_ap": float(average_precision_per_class(hit[:, None], ranking[:, None]).macro),
        "precision_at_hidden": float(hit[: int(hidden.sum())].mean()),
        "true_rate": float(hidden.sum() / truth.positive.sum()),
        "estimate": dataclasses.asdict(estimate),
    }


def timed(cell: Path, stage: str, done: Path, work: Callable[[], object]) -> float | None:
    """Run ``work`` unless ``done`` exists; the CPU seconds it took, kept in ``cell/cpu.json``.

    None when the stage was finished before CPU seconds were recorded.
    """
    record = cell / "cpu.json"
    seconds = json.loads(record.read_text()) if record.exists() else {}
    if not done.exists():
        started = cpu_seconds()
        work()
        seconds[stage] = cpu_seconds() - started
        record.write_text(json.dumps(seconds, indent=1))
    return seconds.get(stage)


def run_seed(args: argparse.Namespace, original: Labels, prepared: Path, seed: int) -> dict:
    from earmark.training.trainer import Trainer

    cell = args.out / args.scenario / f"s{seed}"
    cell.mkdir(parents=True, exist_ok=True)
    labels = simulate(original, args.scenario, seed)
    labels_path = cell / "labels.csv"
    write_labels(labels, labels_path)
    config = train_config(prepared, labels_path, args.scenario, seed, args.epochs)
    in_fold, cv = cell / "in_fold", cell / "cv"
    row: dict = {"seed": seed}
    cpu = timed(cell, "in_fold", in_fold / "summary.json", lambda: Trainer(config, in_fold).fit(resume=True))
    row["in_fold"] = audit_figures(*score_run(in_fold, split="train"), original) | {"cpu_seconds": cpu}
    cpu = timed(cell, "out_of_fold", cv / "cv_summary.json", lambda: cross_validate(config, cv))
    _, _, known = run_training_clips(cv)
    if known is None:
        raise RuntimeError(f"{cv} holds no cross-validation")
    row["out_of_fold"] = audit_figures(*known, original) | {"cpu_seconds": cpu}
    print(json.dumps(row, indent=1), flush=True)
    return row


def noisy_figures(study: Path) -> list[dict]:
    """``estimate_noise_rate`` on each saved cell of the noisy-labels study, beside the truth."""
    rows = []
    for scores_path in sorted(study.glob("s*/f*/clean/scores.npz")):
        cell = scores_path.parents[1]
        oof = Predictions.read(scores_path)
        given = read_labels(cell / "study.csv").select(clip_ids=oof.clip_ids.tolist())
        truth = read_labels(cell / "truth.csv").select(clip_ids=oof.clip_ids.tolist())
        wrong = given.positive & ~truth.positive
        estimate = estimate_noise_rate(given, oof.scores)
        rows.append(
            {
                "cell": f"{cell.parent.name}/{cell.name}",
                "clips": given.num_clips,
                "true_rate": float(wrong.sum() / given.positive.sum()),
                "estimate": dataclasses.asdict(estimate),
            }
        )
    return rows


def esc10_crowd_figures(args: argparse.Namespace) -> list[dict]:
    """``estimate_noise_rate`` on out-of-fold scores of ESC-10 trained with one crowd worker's labels.

    Per seed: every ESC-10 clip some worker judged takes the label one worker (drawn with the
    seed) gave it; a 5-fold cross-validation (the ESC folds) of the aisfx + ``attention_mil``
    head of the embedding-heads study trains on those labels and scores every clip out of fold.
    """
    from earmark.data.loaders import load_dataset

    prepared = args.esc10_prepared
    truth = read_labels(prepared / "labels.csv")
    classes = args.out / "esc10_crowd" / "classes.txt"
    classes.parent.mkdir(parents=True, exist_ok=True)
    classes.write_text("\n".join(truth.class_names) + "\n")
    folder = args.data / "esc10"
    rows = []
    for seed in range(args.crowd_seeds):
        cell = args.out / "esc10_crowd" / f"s{seed}"
        cell.mkdir(parents=True, exist_ok=True)
        options = {
            "judgments": str(folder / "crowd_judgments.csv"),
            "audio_root": str(folder / "audio"),
            "class_names": str(classes),
            "seed": seed,
        }
        crowd = load_dataset("crowd", options).labels.with_classes(truth.class_names)
        true = truth.select(clip_ids=crowd.clip_ids.tolist())
        given = dataclasses.replace(true, positive=crowd.positive, annotated=np.ones_like(crowd.positive))
        write_labels(given, cell / "labels.csv")
        config = from_dict(
            TrainConfig,
            {
                "data": {"prepared": str(prepared), "labels": str(cell / "labels.csv")},
                "model": "attention_mil",
                "model_options": {"hidden_layers": 1, "hidden_units": 512, "dropout": 0.6},
                "strategy": "supervised",
                "segment_frames": 8,
                "crop": "head",
                "batch_size": 32,
                "epochs": 60,
                "metric": "accuracy",
                "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "warmup_steps": 20},
                "checkpoint_every": 100_000,
                "predict_hop_frames": 8,
                "seed": seed,
                "device": "cpu",
                "report": False,
            },
        )
        cpu = timed(
            cell, "cv", cell / "cv" / "cv_summary.json", lambda c=config, d=cell: cross_validate(c, d / "cv")
        )
        _, _, known = run_training_clips(cell / "cv")
        if known is None:
            raise RuntimeError(f"{cell / 'cv'} holds no cross-validation")
        labels, scores = known
        true = truth.select(clip_ids=labels.clip_ids.tolist())
        wrong = labels.positive & ~true.positive
        estimate = estimate_noise_rate(labels, scores)
        rows.append(
            {
                "cell": f"esc10 crowd s{seed}",
                "clips": labels.num_clips,
                "true_rate": float(wrong.sum() / labels.positive.sum()),
                "estimate": dataclasses.asdict(estimate),
                "cpu_seconds": cpu,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _interval(estimate: dict) -> str:
    return f"{estimate['rate']:.3f} [{estimate['low']:.3f}, {estimate['high']:.3f}]"


def _cpu(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{np.mean(known):.0f}" if known else "–"


def _mean_sd(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def markdown(results: dict) -> str:
    lines = []
    seeds = results.get("seeds", [])
    if seeds:
        lines += [
            f"Scenario `{results['scenario']}`, {len(seeds)} seeds: hidden positives "
            f"{_mean_sd([s['in_fold']['hidden'] for s in seeds])} among "
            f"{_mean_sd([s['in_fold']['missing_entries'] for s in seeds])} missing entries.",
            "",
            "| scores | audit AP | precision in top N | true missing rate | estimate [95 % interval] "
            "| interval holds the truth | CPU s |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, name in (("in_fold", "in-fold (the run's own model)"), ("out_of_fold", "out-of-fold (cv)")):
            parts = [s[key] for s in seeds]
            holds = sum(p["estimate"]["low"] <= p["true_rate"] <= p["estimate"]["high"] for p in parts)
            estimates = "; ".join(_interval(p["estimate"]) for p in parts)
            lines.append(
                f"| {name} | {_mean_sd([p['audit_ap'] for p in parts])} "
                f"| {_mean_sd([p['precision_at_hidden'] for p in parts])} "
                f"| {_mean_sd([p['true_rate'] for p in parts])} | {estimates} "
                f"| {holds} of {len(parts)} | {_cpu([p['cpu_seconds'] for p in parts])} |"
            )
    noisy = results.get("noisy", [])
    if noisy:
        holds = sum(r["estimate"]["low"] <= r["true_rate"] <= r["estimate"]["high"] for r in noisy)
        lines += [
            "",
            "| noisy-labels cell | clips | true wrong share | estimate [95 % interval] |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['cell']} | {r['clips']} | {r['true_rate']:.3f} | {_interval(r['estimate'])} |"
            for r in noisy
        ]
        lines.append(
            f"| mean | | {_mean_sd([r['true_rate'] for r in noisy])} "
            f"| {_mean_sd([r['estimate']['rate'] for r in noisy])}; the interval holds the truth in "
            f"{holds} of {len(noisy)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/audit_missing_oof"))
    parser.add_argument(
        "--prepared", type=Path, default=None, help="the prepared AudioSet sample (default: OUT/prepared)"
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="positives_only")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small models: 1 is fastest)")
    parser.add_argument("--noisy-study", type=Path, default=None, help="a noisy-labels study's --out")
    parser.add_argument("--crowd-seeds", type=int, default=0, help="ESC-10 crowd labellings to estimate")
    parser.add_argument(
        "--esc10-prepared", type=Path, default=Path("runs/esc10_aisfx"), help="ESC-10 prepared with aisfx"
    )
    args = parser.parse_args()
    results: dict = {"scenario": args.scenario, "seeds": []}
    if args.seeds or args.crowd_seeds:
        import torch

        torch.set_num_threads(args.threads)
    if args.seeds:
        prepared = args.prepared or args.out / "prepared"
        if not (prepared / "labels.csv").exists():
            from earmark.data.loaders import load_dataset
            from earmark.features.embeddings import PrecomputedConfig
            from earmark.prepare import prepare

            sample = args.data / "audioset_vggish_sample"
            options = {"records": str(sample), "class_labels": str(sample / "class_labels_indices.csv")}
            prepare(load_dataset("audioset", options), prepared, PrecomputedConfig())
        original = read_labels(prepared / "labels.csv")
        folds = np.random.default_rng(1994).permutation(original.num_clips) % 5 + 1
        audited = dataclasses.replace(original, fold=folds).take(folds != 5)
        for seed in range(args.seeds):
            results["seeds"].append(run_seed(args, audited, prepared, seed))
    if args.noisy_study is not None:
        results["noisy"] = noisy_figures(args.noisy_study)
    if args.crowd_seeds:
        results["noisy"] = results.get("noisy", []) + esc10_crowd_figures(args)
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"results_{args.scenario}.json" if args.seeds else "results_noisy.json"
    (args.out / name).write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
