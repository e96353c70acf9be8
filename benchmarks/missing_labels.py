"""The missing-labels study on ESC-mix, through ``earmark study``: the remedies against B1.

Set-up (once; see benchmarks/RESULTS.md for the exact commands):

    earmark simulate esc-mix --out runs/esc_mix
    earmark prepare csv --set table=runs/esc_mix/mixtures.csv --set classes=runs/esc_mix/classes.txt \
        --out runs/esc_mix_aisfx --frontend-set name=aisfx

For each missing rate, this script only writes the inputs of a study — per seed, the train and
validation mixtures (folds 1-4) with a share of their entries dropped (explicit mode, as in the
SONYC-UST experiment: a dropped entry becomes *missing*, never a wrong value) — and a study file
``<out>/r<rate>/study.yaml`` with one arm per remedy, then calls the library
(:func:`earmark.study.run_study`, :func:`~earmark.study.collect`,
:func:`~earmark.study.write_report`), exactly what ``earmark study <out>/r<rate>/study.yaml
--out <out>/r<rate>`` does. Every model trains on folds 1-3, selects its checkpoint on fold 4
(the degraded labels' annotated entries) and is scored on fold 5 with every label known.

Arm settings come from the papers and were fixed before any of their test figures was seen; the
epoch count was chosen on validation (see RESULTS.md). ``full`` is the same learner trained
with no label missing: the reference the gap is measured to.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from earmark.data.simulate import drop_labels
from earmark.data.table import read_labels, write_labels
from earmark.study import collect, estimate_label_quality, run_study, study_from_dict, write_report

RECIPE = "recipes/esc_mix_missing.yaml"


def arms(steps_per_epoch: int) -> list[dict[str, Any]]:
    """Every remedy with its paper's settings (fixed before any test figure was seen).

    MT: SONYC-UST's α 0.99, β 3, no ramp-up (the ramp-up delayed it over short schedules).
    LE: Gururani & Lerch's SONYC-UST γ 95 with B0 as the teacher. LL-R / LL-Ct (Kim et al., CVPR
    2022): 0.2 % more of the assumed negatives each epoch, none in the first. ASL (Ridnik et al.,
    ICCV 2021): γ+ 0, γ− 4, clip 0.05, missing entries as negatives. LE-auto: the share masked
    per class from the estimated missing-positive rate, with B1 (trained without reading missing
    entries as negatives) as the teacher; PL: B1's probabilities as soft targets of the missing
    entries (the FSDKaggle2019 winners' practice), weight 1; EPR (Cole et al., CVPR 2021): the
    expected number of positives per clip estimated from the annotated entries, λ 1.
    """
    large_loss = {"delta_rel": 0.002, "rate_every_steps": steps_per_epoch}
    mean_teacher = {"alpha": 0.99, "consistency_weight": 3.0, "rampup_steps": 0}
    return [
        _arm("B0", "supervised", missing="negative"),
        _arm("B1", "supervised", missing="mask"),
        _arm("MT", "mean_teacher", missing="mask", **mean_teacher),
        _arm("LE", "supervised", missing="mask", enhance={"teacher_run": "{run:B0}", "gamma": 95.0}),
        _arm("LL-R", "large_loss", mode="reject", **large_loss),
        _arm("LL-Ct", "large_loss", mode="correct_temporary", **large_loss),
        _arm("ASL", "asymmetric", missing="negative"),
        _arm("LE-auto", "supervised", missing="mask", enhance={"teacher_run": "{run:B1}", "gamma": "auto"}),
        _arm("PL", "pseudo_label", teacher_run="{run:B1}"),
        _arm("EPR", "expected_positive"),
    ]


def _arm(name: str, strategy: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "train": {"strategy": strategy, "strategy_options": options}}


def study_file(args: argparse.Namespace, rate: float) -> Path:
    """Write the degraded labels of every seed and the study file for ``rate``; returns the file."""
    folder = args.out / f"r{round(rate * 100):02d}"
    full = read_labels(args.prepared / "labels.csv")
    for seed in range(args.seeds):
        path = folder / "labels" / f"s{seed}.csv"
        if not path.exists():
            write_labels(drop_labels(full, rate=rate, mode="explicit", seed=seed, clips=full.fold != 5), path)
    train_clips = int(np.isin(full.fold, [1, 2, 3]).sum())
    # rate_every_steps: the ceiling of clips / batch, one step more than the trainer's epoch (it
    # drops the last partial batch); kept so the recorded figures reproduce
    chosen = arms(-(-train_clips // 64))
    if args.arms:
        chosen = [a for a in chosen if a["name"] in args.arms]
    truth_arm = {
        "name": "full",
        "train": {"strategy": "supervised", "data": {"labels": str(args.prepared / "labels.csv")}},
        "reference": True,
    }
    study = {
        "base": str(Path(RECIPE).resolve()),
        "train": {
            "epochs": args.epochs,
            "data": {"prepared": str(args.prepared)},
            "checkpoint_every": 10_000,
            "device": "cpu",
            "num_workers": 0,
            "report": False,
        },
        "labels": str(folder / "labels" / "s{seed}.csv"),
        "truth": str(args.prepared / "labels.csv"),
        "seeds": list(range(args.seeds)),
        "metric": "ap_macro",
        "metrics": ["lwlrap", "f1_macro"],
        "baseline": "B1",
        "estimate": "missing",
        "arms": [*chosen, truth_arm] if args.full else chosen,
        "resamples": args.resamples,
    }
    path = folder / "study.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prepared", type=Path, default=Path("runs/esc_mix_aisfx"))
    parser.add_argument("--out", type=Path, default=Path("runs/missing_study"))
    parser.add_argument("--rates", type=float, nargs="+", default=[0.4])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--run-seeds", help="comma-separated seeds this process trains (default: all)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--arms", nargs="*", help="only these arms (default: all)")
    parser.add_argument("--full", action="store_true", help="also the learner trained with no label missing")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--report-only", action="store_true", help="only score the finished runs")
    parser.add_argument(
        "--train-only",
        action="store_true",
        help="train, but score nothing on test (choosing settings on validation)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small models: 1 is fastest)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    for rate in args.rates:
        path = study_file(args, rate)
        study = study_from_dict(yaml.safe_load(path.read_text()))
        if not args.report_only:
            seeds = tuple(int(s) for s in args.run_seeds.split(",")) if args.run_seeds else None
            run_study(
                study,
                path.parent,
                seeds=seeds,
                on_event=lambda what, run: print(f"{run.arm.name} {run.cell.name}: {what}", flush=True),
            )
        if args.train_only:
            continue
        results = collect(study, path.parent)
        quality = estimate_label_quality(study, path.parent)
        write_report(
            results, path.parent, quality=quality, title=f"ESC-mix, {rate:.0%} of train labels missing"
        )
        print((path.parent / "report.md").read_text())
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
