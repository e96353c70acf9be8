"""Choose the noisy-labels study's epoch count on validation data, before the study is run.

The study (``benchmarks/noisy_labels.py``) trains every stage for ``--epochs``. This script picks
that number the way a user of the data could: in seed × fold cells of the study, ``naive``'s
training clips (curated + noisy, the crowd labels as they are) lose a seeded fifth, grouped by
recording, to a validation split *labelled by the crowd too* (the true labels of training clips
are not used, and no test fold is looked at). The model trains for ``--max-epochs`` with a
validation every epoch; the chosen count is the first epoch whose validation accuracy, smoothed
over ``--window`` epochs, is within ``--tolerance`` of the best smoothed value, averaged over the
cells and rounded up to a multiple of 10.

    .venv/bin/python benchmarks/noisy_labels_schedule.py --out runs/noisy_schedule \
        --prepared runs/noisy_study/prepared
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from earmark.config import from_dict
from earmark.data.folds import assign_folds
from earmark.data.groups import group_keys
from earmark.training.config import TrainConfig
from earmark.training.logbook import read_log
from earmark.training.trainer import Trainer
from noisy_labels import RECORDING, cell_tables, prepare_data, train_section


def validation_curve(run_dir: Path) -> list[float]:
    """Validation accuracy after each epoch, in order."""
    return [row["accuracy"] for row in read_log(run_dir / "metrics.jsonl") if row.get("split") == "valid"]


def settled_epoch(curve: list[float], *, window: int, tolerance: float) -> int:
    """The first epoch (1-based) whose smoothed accuracy is within ``tolerance`` of the best."""
    smoothed = np.convolve(curve, np.ones(window) / window, mode="valid")
    best = float(smoothed.max())
    first = int(np.flatnonzero(smoothed >= best - tolerance)[0])
    return first + window  # the window's last epoch


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/noisy_schedule"))
    parser.add_argument("--prepared", type=Path, default=Path("runs/noisy_study/prepared"))
    parser.add_argument("--cells", default="0:1,1:3", help="seed:fold pairs, comma-separated")
    parser.add_argument("--max-epochs", type=int, default=240)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--tolerance", type=float, default=0.01)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    cells = [tuple(int(part) for part in cell.split(":")) for cell in args.cells.split(",")]
    args.seeds, args.folds, args.curated_per_class = max(s for s, _ in cells) + 1, 5, 2
    args.epochs = args.max_epochs
    args.out.mkdir(parents=True, exist_ok=True)
    truth, crowd = prepare_data(args)
    pool = truth.select(clip_ids=sorted(crowd[0].clip_ids.tolist()))
    folds = assign_folds(pool.positive, folds=5, seed=0, groups=group_keys(pool.clip_ids, RECORDING))
    chosen: dict[str, int] = {}
    for seed, fold in cells:
        cell = args.out / f"s{seed}" / f"f{fold}"
        cell.mkdir(parents=True, exist_ok=True)
        cell_tables(
            args,
            truth,
            crowd[seed].select(clip_ids=sorted(crowd[seed].clip_ids.tolist())),
            folds,
            seed,
            fold,
            cell,
        )
        train = {**train_section(args), "seed": seed}
        train["data"] = {
            "prepared": str(args.prepared),
            "labels": str(cell / "study.csv"),
            "test_folds": [fold],
            "valid_fraction": 0.2,
            "group_pattern": RECORDING,
        }
        run_dir = cell / "naive_valid"
        if not (run_dir / "summary.json").exists():
            began = time.perf_counter()
            Trainer(from_dict(TrainConfig, train), run_dir).fit(overwrite=True)
            print(f"seed {seed} fold {fold}: {time.perf_counter() - began:.0f} s", flush=True)
        curve = validation_curve(run_dir)
        chosen[f"s{seed}f{fold}"] = settled_epoch(curve, window=args.window, tolerance=args.tolerance)
        best = max(range(len(curve)), key=curve.__getitem__)
        print(
            f"seed {seed} fold {fold}: best validation accuracy {curve[best]:.3f} at epoch {best + 1}; "
            f"settled (window {args.window}, within {args.tolerance}) at epoch {chosen[f's{seed}f{fold}']}",
            flush=True,
        )
    epochs = 10 * math.ceil(float(np.mean(list(chosen.values()))) / 10)
    result = {"cells": chosen, "epochs": epochs, "window": args.window, "tolerance": args.tolerance}
    (args.out / "schedule.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"chosen epochs: {epochs}")


if __name__ == "__main__":
    main()
