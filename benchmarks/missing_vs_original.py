"""earmark's missing-labels methods against Gururani & Lerch's released code, on the same inputs.

The missing-labels study (``benchmarks/missing_labels.py``) leaves, for every seed ``s``, the
degraded label table ``<study>/r40/s<s>/labels.csv`` and earmark's runs beside it. This script
hands exactly those inputs to the released research code and runs its B0, B1, label
enhancement (LE) and Mean Teacher (MT) with the settings its own SONYC-UST scripts set, except
the number of epochs, then scores both sides' test predictions with one scorer
(``earmark.metrics.scalar_metric("ap_macro")``) and puts CPU seconds beside them.

What the released code is given (its SONYC-UST input format, one file per seed):

* ``X``: each mixture's aisfx frames from the prepared feature store, cut as earmark cuts
  them (the head, ``segment_frames`` frames, zero-padded when shorter; every ESC-mix mixture
  has exactly 4), float32, shape ``(clips, frames, 512)``;
* ``Y_true``: 1 where the table says positive, else 0 (a missing entry holds 0);
* ``Y_mask``: the table's ``annotated`` mask (True = known);
* train = folds 1-3, validation = fold 4 (both with the seed's missing entries), test =
  fold 5, fully labeled.

How it is run: each method in a process of its own (``PYTHONPATH`` = the checkout's ``src``,
one torch thread), calling the ``run(config)`` function of the SONYC-UST script named in
:data:`METHODS` with the ``config`` dictionary that script's main block builds (read from the
script, not restated here), with ``num_epochs`` set to ``--epochs``, the data and log folders
pointed at this script's output, and the seed set. Three shims make it run on this machine
without changing what it computes: ``.cuda()`` returns its tensor or module unchanged (CPU
only); the class count its SONYC-UST path fixes (23) is replaced by the table's (50) where
models and prediction buffers are made; ``h5py``, imported by its OpenMIC loader and unused
on the SONYC-UST path, is replaced by an empty module when absent. The process CPU seconds of
``run(config)`` are recorded (data loading and standardisation, training, validation every
epoch, its own test evaluation, saving); one-time library imports are left out, as they are
for earmark's runs, which share one process. Afterwards the checkpoint its ``run`` saved as the
best by validation macro AUPRC (``model_1.pth``; for MT the student, as it reports) predicts the
test mixtures.

Usage (from the repository root, after the study)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/missing_vs_original.py --original <checkout> \\
        --study runs/missing_study_v2 --out runs/missing_vs_original \\
        --methods B0 B1 LE MT MT-lr1e-3 MT-drop

``MT-lr1e-3`` and ``MT-drop`` are variants of the released Mean Teacher, for reference (see
:data:`METHODS`); the default ``--methods`` are the four of the target. Finished runs
(``cpu.json`` and ``test_predictions.npz`` present) are not redone.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

#: Method → (the released SONYC-UST script whose ``run`` trains it, config changes beside epochs).
METHODS: dict[str, tuple[str, dict]] = {
    "B0": ("run_baseline_openL3.py", {"type": 0}),
    "B1": ("run_baseline_openL3.py", {"type": 1}),
    "LE": ("run_labelpruning_openL3.py", {}),  # its default prune_thres 0.05, i.e. γ = 95
    "MT": ("run_mean_teacher_openL3.py", {}),
    # variants, not part of the target: its simulated-missing-labels script's Mean Teacher
    # settings (lr 1e-3, dropout 0.3, α 0.999), and its SONYC-UST Mean Teacher at lr 1e-3
    "MT-drop": ("run_mean_teacher_dropabels_openL3.py", {}),
    "MT-lr1e-3": ("run_mean_teacher_openL3.py", {"hparams": {"lr": 0.001}}),
}
DEFAULT_METHODS = ("B0", "B1", "LE", "MT")
#: earmark's runs to set beside each method; LE's CPU also counts its B0 teacher run, because
#: the released LE trains its own teacher inside the same run.
EARMARK_RUNS = {
    "B0": ("B0",),
    "B1": ("B1",),
    "LE": ("LE", "B0"),
    "MT": ("MT",),
    "MT-drop": ("MT",),
    "MT-lr1e-3": ("MT",),
}


# ---------------------------------------------------------------------------- export (earmark)
def export_inputs(prepared: Path, labels_path: Path, segment_frames: int, out: Path) -> dict:
    """Write the released code's input file for one label table; returns the test labels' facts."""
    from earmark.data.table import read_labels
    from earmark.features.store import FeatureStore
    from earmark.training.data import StoreSet, crop_segment

    stores = StoreSet([FeatureStore(p.parent) for p in sorted((prepared / "features").glob("*/store.json"))])
    labels = read_labels(labels_path)
    stores.check_labels(labels)
    splits = {"train": [1, 2, 3], "val": [4], "test": [5]}
    data: dict = {}
    for split, folds in splits.items():
        part = labels.select(folds=folds)
        frames = [crop_segment(stores[c], segment_frames, "head", None) for c in part.clip_ids.tolist()]
        if any(valid < segment_frames for _, valid in frames):
            raise ValueError(
                f"{split}: some clips are shorter than {segment_frames} frames; the released model "
                "has no padding mask, so this comparison needs clips of equal length"
            )
        data[split] = {
            "X": np.stack([f for f, _ in frames]).astype(np.float32),
            "fine": {"Y_true": part.positive.astype(np.float32), "Y_mask": part.annotated.copy()},
            "clip_ids": part.clip_ids.astype(str),
        }
    if not data["test"]["fine"]["Y_mask"].all():
        raise ValueError(f"{labels_path}: the test fold must be fully labeled")
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "SONYC_OpenL3.npy", data, allow_pickle=True)
    return {"num_classes": len(labels.class_names), "test_clip_ids": data["test"]["clip_ids"].tolist()}


# ---------------------------------------------------------------------------- worker (released code)
def script_config(script: Path) -> dict:
    """The ``config = {...}`` literal that ``script``'s main block builds."""
    tree = ast.parse(script.read_text(encoding="utf-8"), filename=str(script))
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            for statement in node.body:
                if isinstance(statement, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "config" for t in statement.targets
                ):
                    return dict(ast.literal_eval(statement.value))
    raise ValueError(f"{script}: no `config = {{...}}` literal in its main block")


def _install_shims() -> None:
    """CPU-only ``.cuda()``; an empty ``h5py`` when absent (only its OpenMIC loader imports it)."""
    import torch

    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    try:
        import h5py  # noqa: F401
    except ImportError:
        sys.modules["h5py"] = types.ModuleType("h5py")


def _patch_class_count(module: types.ModuleType, num_classes: int) -> None:
    """Make the run module build models and buffers for ``num_classes`` (its SONYC path fixes 23)."""
    create_model = module.create_model
    module.create_model = lambda params, no_grad=False: create_model(
        {**params, "n_classes": num_classes}, no_grad
    )
    if hasattr(module, "eval_baseline"):
        eval_baseline = module.eval_baseline
        module.eval_baseline = lambda model, loader, criterion, _n, *rest, **kw: eval_baseline(
            model, loader, criterion, num_classes, *rest, **kw
        )
    if hasattr(module, "eval_mt"):
        eval_mt = module.eval_mt
        module.eval_mt = lambda model, teacher, loader, criterion, _n, *rest: eval_mt(
            model, teacher, loader, criterion, num_classes, *rest
        )
    if hasattr(module, "forward"):
        forward = module.forward
        module.forward = lambda model, loader, _n: forward(model, loader, num_classes)


def worker(args: argparse.Namespace) -> None:
    """Run one method of the released code in this process; write CPU seconds and test scores."""
    import importlib

    import torch

    torch.set_num_threads(1)
    script_name, changes = METHODS[args.method]
    script = args.original / "src" / script_name
    config = script_config(script)
    config["hparams"].update(changes.get("hparams", {}), num_epochs=args.epochs)
    config.update(
        {key: value for key, value in changes.items() if key != "hparams"},
        dataset="sonyc",
        coarse=0,
        mode=0,
        seed=args.seed,
        data_path=str(args.data),
        logdir=str(args.run / "logs"),
    )
    _install_shims()
    module = importlib.import_module(script_name.removesuffix(".py"))
    _patch_class_count(module, args.num_classes)
    # torch imports a large module on the first optimizer a process makes (about 2.7 s of CPU
    # here); earmark's runs share one process, so make it before the clock starts here too
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    cpu_started, started = time.process_time(), time.perf_counter()
    module.run(config)
    cpu_seconds, wall_seconds = time.process_time() - cpu_started, time.perf_counter() - started

    from data.sonyc_utils import get_sonyc_loaders  # the checkout's loader: the same standardisation

    run_dir = Path(module.get_experiment_dir(config)) / f"seed_{args.seed}"
    (_, _, test_loader), _ = get_sonyc_loaders(config)
    params = {
        "n_features": config["hparams"]["n_features"],
        "drop_rate": config["hparams"]["dropout"],
        "n_classes": args.num_classes,
        "n_layers": config["hparams"]["n_layers"],
    }
    scores = {}
    checkpoints = {
        "best_metric": "model_1.pth",
        "best_loss": "model_0.pth",
        "teacher_best_metric": "teacher_1.pth",
    }
    for name, file in checkpoints.items():
        if not (run_dir / file).exists():
            continue
        model = module.create_model(params)
        model.load_state_dict(torch.load(run_dir / file, map_location="cpu"))
        model.eval()
        with torch.no_grad():
            scores[name] = torch.cat([model(batch[0]) for batch in test_loader]).numpy()
    np.savez(args.run / "test_predictions.npz", **scores)
    record = {
        "cpu_seconds": cpu_seconds,
        "wall_seconds": wall_seconds,
        "config": config,
        "script": script_name,
    }
    (args.run / "cpu.json").write_text(json.dumps(record, indent=2))


# ---------------------------------------------------------------------------- comparison
def run_original(args: argparse.Namespace) -> None:
    """Export each seed's inputs, then run every method of the released code, one at a time."""
    rate_dir = args.study / f"r{round(args.rate * 100):02d}"
    for seed in range(args.seeds):
        data = args.out / f"s{seed}" / "data"
        facts = export_inputs(args.prepared, rate_dir / f"s{seed}" / "labels.csv", args.segment_frames, data)
        (data / "facts.json").write_text(json.dumps(facts))
        for method in args.methods:
            run = args.out / f"s{seed}" / method
            if (run / "cpu.json").exists() and (run / "test_predictions.npz").exists():
                continue
            run.mkdir(parents=True, exist_ok=True)
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "worker",
                "--original",
                str(args.original),
            ]
            command += ["--method", method, "--seed", str(seed), "--epochs", str(args.epochs)]
            command += ["--data", str(data.resolve()), "--run", str(run.resolve())]
            command += ["--num-classes", str(facts["num_classes"])]
            env = {**os.environ, "PYTHONPATH": str((args.original / "src").resolve()), "OMP_NUM_THREADS": "1"}
            with open(run / "log.txt", "w", encoding="utf-8") as log:
                subprocess.run(command, check=True, cwd=run, env=env, stdout=log, stderr=subprocess.STDOUT)
            record = json.loads((run / "cpu.json").read_text())
            print(f"seed={seed} {method:7s} released code: {record['cpu_seconds']:.0f} s CPU", flush=True)


def _earmark_scores(study_run: Path, test_ids: list[str]) -> np.ndarray:
    from earmark.predictions import Predictions

    predictions = Predictions.read(study_run / "predictions" / "test.npz")
    order = {c: i for i, c in enumerate(predictions.clip_ids.tolist())}
    return predictions.scores[[order[c] for c in test_ids]]


def _cpu(path: Path) -> float:
    return float(json.loads(path.read_text())["cpu_seconds"])


def compare(args: argparse.Namespace) -> dict:
    """Test macro PR-AUC and CPU seconds of both sides, per method and seed."""
    from earmark.data.table import read_labels
    from earmark.metrics import scalar_metric

    score = scalar_metric("ap_macro")
    full = read_labels(args.prepared / "labels.csv")
    rate_dir = args.study / f"r{round(args.rate * 100):02d}"
    results: dict = {}
    for method in args.methods:
        row: dict = {
            "earmark": [],
            "original": [],
            "original_best_loss": [],
            "earmark_cpu": [],
            "original_cpu": [],
        }
        for seed in range(args.seeds):
            facts = json.loads((args.out / f"s{seed}" / "data" / "facts.json").read_text())
            test_ids = facts["test_clip_ids"]
            y = full.select(clip_ids=test_ids).positive
            names = EARMARK_RUNS[method]
            row["earmark"].append(
                float(score(y, _earmark_scores(rate_dir / f"s{seed}" / names[0], test_ids)))
            )
            row["earmark_cpu"].append(sum(_cpu(rate_dir / f"s{seed}" / n / "cpu.json") for n in names))
            run = args.out / f"s{seed}" / method
            original = np.load(run / "test_predictions.npz")
            row["original"].append(float(score(y, original["best_metric"])))
            row["original_best_loss"].append(float(score(y, original["best_loss"])))
            row["original_cpu"].append(_cpu(run / "cpu.json"))
        results[method] = row
    return results


def _mean_sd(values: list[float], digits: int) -> str:
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def markdown(results: dict) -> str:
    """The comparison table."""
    lines = [
        "| method | earmark | released code | released code, best-loss checkpoint | meets ≥ | "
        "earmark CPU s | released CPU s | CPU ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, row in results.items():
        ratio = np.mean(row["earmark_cpu"]) / np.mean(row["original_cpu"])
        meets = "yes" if np.mean(row["earmark"]) >= np.mean(row["original"]) else "no"
        lines.append(
            f"| {method} | {_mean_sd(row['earmark'], 4)} | {_mean_sd(row['original'], 4)} | "
            f"{_mean_sd(row['original_best_loss'], 4)} | {meets} | {_mean_sd(row['earmark_cpu'], 1)} | "
            f"{_mean_sd(row['original_cpu'], 1)} | {ratio:.2f} |"
        )
    counted = [r for m, r in results.items() if m in DEFAULT_METHODS]
    if counted:
        earmark_total = sum(np.mean(r["earmark_cpu"]) for r in counted)
        original_total = sum(np.mean(r["original_cpu"]) for r in counted)
        lines.append(
            f"| {' + '.join(m for m in results if m in DEFAULT_METHODS)} | | | | | {earmark_total:.1f} | "
            f"{original_total:.1f} | {earmark_total / original_total:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", choices=["compare", "worker"], default="compare")
    parser.add_argument("--original", type=Path, required=True, help="a checkout of the released code")
    parser.add_argument("--prepared", type=Path, default=Path("runs/esc_mix_aisfx"))
    parser.add_argument("--study", type=Path, default=Path("runs/missing_study_v2"))
    parser.add_argument("--out", type=Path, default=Path("runs/missing_vs_original"))
    parser.add_argument("--rate", type=float, default=0.4)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--segment-frames", type=int, default=4)
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=list(DEFAULT_METHODS))
    parser.add_argument("--report-only", action="store_true", help="only compare finished runs")
    # the worker's own arguments (set by the compare mode)
    parser.add_argument("--method", choices=sorted(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--num-classes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (args.original / "src" / METHODS["B0"][0]).exists():
        parser.error(f"--original {args.original}: no src/{METHODS['B0'][0]} there")
    if args.mode == "worker":
        worker(args)
        return
    if not args.report_only:
        run_original(args)
    results = compare(args)
    (args.out / "comparison.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    (args.out / "comparison.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
