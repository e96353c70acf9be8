"""Tables of finished cross-validations, and of ensembles of them (the LH + X pair).

Each named cross-validation is a directory written by ``earmark cv`` (``fold-<k>/`` runs with
``predictions/test.npz``). For every fold the script reads the test predictions, scores them
(accuracy for single-label data, lwlrap, macro PR-AUC) and the minutes the fold trained; an
ensemble ``a+b`` averages the folds' test probabilities of ``a`` and ``b`` (what ``earmark
ensemble`` does) and is scored the same way. Prints Markdown.

    python benchmarks/cv_table.py --labels runs/demo/esc10/labels.csv \\
        default=runs/esc10-cv lh=runs/esc10-lh-cv x=runs/esc10-x-cv --ensemble lh+x
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from earmark.data.table import read_labels
from earmark.metrics import is_single_label, scalar_metric
from earmark.predictions import Predictions


def fold_dirs(cv_dir: Path) -> dict[int, Path]:
    """The finished folds of a cross-validation directory, by fold number."""
    found = {}
    for path in sorted(cv_dir.glob("fold-*")):
        if (path / "predictions" / "test.npz").exists():
            found[int(path.name.split("-", 1)[1])] = path
    if not found:
        raise SystemExit(f"{cv_dir} holds no finished fold (fold-<k>/predictions/test.npz)")
    return found


def minutes(run: Path) -> float:
    """Training minutes of a run: the last logged wall-clock seconds of its training rows."""
    seconds = 0.0
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get("split") == "train":
            seconds = max(seconds, float(row.get("seconds", 0.0)))
    return seconds / 60.0


def scores_of(predictions: Predictions, labels_path: Path) -> dict[str, float]:
    """Accuracy (single-label data), lwlrap and macro PR-AUC of test predictions."""
    labels = read_labels(labels_path).select(clip_ids=predictions.clip_ids.tolist())
    order = {c: i for i, c in enumerate(predictions.clip_ids.tolist())}
    scores = predictions.scores[[order[c] for c in labels.clip_ids.tolist()]]
    names = (["accuracy"] if is_single_label(labels.positive, None) else []) + ["lwlrap", "ap_macro"]
    return {n: float(scalar_metric(n)(labels.positive, scores, mask=None)) for n in names}


def averaged(paths: list[Path]) -> Predictions:
    """The mean of several prediction files over the same clips (rows in the first's order)."""
    loaded = [Predictions.read(p) for p in paths]
    first = loaded[0]
    order = {c: i for i, c in enumerate(first.clip_ids.tolist())}
    stacked = []
    for other in loaded:
        rows = np.empty(len(order), dtype=np.int64)
        for j, clip in enumerate(other.clip_ids.tolist()):
            rows[order[clip]] = j
        stacked.append(other.scores[rows])
    mean = np.mean(stacked, axis=0).astype(np.float32)
    return Predictions(first.clip_ids, first.class_names, mean, first.frontend_hash)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="name=cv_directory")
    parser.add_argument("--labels", type=Path, required=True, help="the prepared data's labels.csv")
    parser.add_argument("--ensemble", action="append", default=[], help="a+b: average named runs")
    args = parser.parse_args()
    named = dict(item.split("=", 1) for item in args.runs)
    folds = {name: fold_dirs(Path(path)) for name, path in named.items()}
    rows: dict[str, dict[int, dict[str, float]]] = {}
    for name, by_fold in folds.items():
        rows[name] = {}
        for fold, run in by_fold.items():
            rows[name][fold] = {
                **scores_of(Predictions.read(run / "predictions" / "test.npz"), args.labels),
                "minutes": minutes(run),
            }
    for spec in args.ensemble:
        members = spec.split("+")
        shared = sorted(set.intersection(*(set(folds[m]) for m in members)))
        rows[spec] = {}
        for fold in shared:
            paths = [folds[m][fold] / "predictions" / "test.npz" for m in members]
            rows[spec][fold] = {
                **scores_of(averaged(paths), args.labels),
                "minutes": sum(rows[m][fold]["minutes"] for m in members),
            }
    all_folds = sorted({f for r in rows.values() for f in r})
    metric = "accuracy" if all("accuracy" in v for r in rows.values() for v in r.values()) else "lwlrap"
    headers = " | ".join(f"fold {f}" for f in all_folds)
    print(f"| run | {headers} | mean ± sd {metric} | lwlrap | minutes per fold |")
    print("|---|" + "---|" * (len(all_folds) + 3))
    for name, by_fold in rows.items():
        values = [by_fold[f][metric] for f in all_folds if f in by_fold]
        cells = [f"{by_fold[f][metric]:.3f}" if f in by_fold else "" for f in all_folds]
        lwlrap = np.mean([v["lwlrap"] for v in by_fold.values()])
        spent = np.mean([v["minutes"] for v in by_fold.values()])
        spread = np.std(values, ddof=1) if len(values) > 1 else 0.0
        mean = f"**{np.mean(values):.3f} ± {spread:.3f}**"
        print(f"| {name} | {' | '.join(cells)} | {mean} | {lwlrap:.3f} | {spent:.1f} |")


if __name__ == "__main__":
    main()
