r"""Which features of aisfx's pretrained CNN does a linear probe do best with on ESC-10 (issue 13)?

The issue asks for ≥ 97 % on ESC-10 from aisfx; the logistic-regression probe on max-pooled
final-layer embeddings reaches about 95 %. Before spending an hour of CPU on fine-tuning, this
script asks whether the network already holds more than that probe reads out:

* ``final_max``: the aisfx embedding (the last block's mean over frequency, max over time),
  max-pooled over the clip's blocks: the usual probe's input;
* ``final_max_meanmax``: the same embedding, mean ‖ max over the blocks;
* ``layer4``: the last block's mean over frequency, max ‖ mean over time, then mean ‖ max
  over the blocks (2,048 values);
* ``layers34``, ``layers234``, ``all_layers``: the same statistics of earlier blocks too
  (pooled intermediate layers, a common transfer-learning read-out; up to 3,840 values);

each optionally with speed-perturbed copies of the *training* clips (audio resampled by
``soxr`` so it plays ``speed`` × faster: pitch and tempo change together), the standard
audio augmentation for a frozen network.

Blocks of 100 spectrogram frames (2.32 s) every ``--hop-frames`` frames (default 10, 0.23 s:
finer than the front-end's 50). The probe is the usual one: standardisation and a multinomial
logistic regression, C from 13 values by a 5-fold inner cross-validation over whole recordings
of the training clips (copies train with their original; inner validation scores originals).

Phases. ``select`` scores every variant with ESC-10 folds 1–4 as outer folds in turn (fold 5
takes no part), the figures a choice may read; ``final`` scores the named variants on all five
folds. Features are cached under ``--out`` per speed (resumable). One torch thread.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/aisfx_probe_features.py --phase select --speeds 1.0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/aisfx_probe_features.py --phase select \
        --speeds 1.0 0.9 1.1 --variants final_max final_max_meanmax layer4
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and torch start their thread pools

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import soxr
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from earmark.features.aisfx import (
    AISFX_SAMPLE_RATE,
    BLOCK_FRAMES,
    AisfxMel,
    AisfxMelConfig,
    aisfx_checkpoint_path,
    load_aisfx_weights,
)
from earmark.features.audio import load_audio
from earmark.models.aisfx_cnn import AisfxNetwork, cut_blocks

C_GRID = tuple(float(c) for c in np.logspace(-4, 2, 13))
LAYER_WIDTHS = (64, 128, 256, 512)  # channels of the network's four blocks
CLIP_NAME = re.compile(r"^(\d+)-(\d+)-")  # ESC: <fold>-<freesound id>-<take>
VARIANT_LAYERS: dict[str, tuple[tuple[int, ...], tuple[str, ...], tuple[str, ...]]] = {
    # name: (blocks of the network, statistics over time, statistics over the clip's blocks)
    "final_max": ((4,), ("max",), ("max",)),
    "final_max_meanmax": ((4,), ("max",), ("max", "mean")),
    "layer4": ((4,), ("max", "mean"), ("max", "mean")),
    "layers34": ((3, 4), ("max", "mean"), ("max", "mean")),
    "layers234": ((2, 3, 4), ("max", "mean"), ("max", "mean")),
    "all_layers": ((1, 2, 3, 4), ("max", "mean"), ("max", "mean")),
}


def layer_statistics(network: AisfxNetwork, blocks: torch.Tensor) -> torch.Tensor:
    """``(blocks, 100, 96)`` → ``(blocks, 1920)``.

    Per layer of the network: the mean over frequency, then the max ‖ the mean over time.
    """
    maps = blocks.unsqueeze(1).contiguous(memory_format=torch.channels_last)
    out = []
    for layer in (network.conv_block1, network.conv_block2, network.conv_block3, network.conv_block4):
        maps = layer(maps)
        over_time = maps.mean(dim=3)
        out.append(torch.cat([over_time.amax(dim=2), over_time.mean(dim=2)], dim=1))
    return torch.cat(out, dim=1)


def columns(variant: str) -> np.ndarray:
    """Columns of a clip's cached row (max over blocks ‖ mean over blocks of the statistics)."""
    layers, over_time, over_blocks = VARIANT_LAYERS[variant]
    starts = np.cumsum((0, *(2 * w for w in LAYER_WIDTHS)))
    half = starts[-1]
    picked: list[np.ndarray] = []
    for block_offset in (0, half) if over_blocks == ("max", "mean") else (0,):
        for layer in layers:
            width = LAYER_WIDTHS[layer - 1]
            start = block_offset + starts[layer - 1]
            if "max" in over_time:
                picked.append(np.arange(start, start + width))
            if "mean" in over_time:
                picked.append(np.arange(start + width, start + 2 * width))
    return np.concatenate(picked)


def clip_features(files: list[Path], speed: float, hop_frames: int) -> tuple[np.ndarray, float]:
    """Rows ``(clips, 2 × 1920)`` for audio played ``speed`` × faster, and the CPU-seconds taken."""
    network = AisfxNetwork()
    network.load_state_dict(load_aisfx_weights(aisfx_checkpoint_path("benchmarks/aisfx_probe_features.py")))
    network.eval()
    frontend = AisfxMel(AisfxMelConfig())
    started = time.process_time()
    rows = []
    for path in files:
        waveform, _ = load_audio(path, AISFX_SAMPLE_RATE)
        if speed != 1.0:
            waveform = soxr.resample(waveform, AISFX_SAMPLE_RATE * speed, AISFX_SAMPLE_RATE)
        spectrogram = torch.from_numpy(np.asarray(frontend.compute(waveform), dtype=np.float32))
        blocks = cut_blocks(spectrogram[None], BLOCK_FRAMES, hop_frames)[0]
        with torch.no_grad():
            statistics = layer_statistics(network, blocks).numpy()
        rows.append(np.concatenate([statistics.max(axis=0), statistics.mean(axis=0)]))
    return np.stack(rows), time.process_time() - started


def fit_probe(views: list[np.ndarray], classes: np.ndarray, train: np.ndarray, c: float):
    """Standardise + logistic regression on ``train`` rows of every view; a predictor of originals."""
    features = np.concatenate([view[train] for view in views])
    targets = np.tile(classes[train], len(views))
    scaler = StandardScaler().fit(features)
    model = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(features), targets)
    return lambda rows: model.predict(scaler.transform(views[0][rows]))


def probe(
    views: list[np.ndarray], classes: np.ndarray, groups: np.ndarray, train: np.ndarray, test: np.ndarray
) -> dict:
    """C by grouped inner 5-fold CV on ``train`` (originals scored), refit, accuracy on ``test``."""
    inner = np.zeros(len(C_GRID))
    splits = list(GroupKFold(n_splits=5).split(train, groups=groups[train]))
    for fit_rows, valid_rows in splits:
        for k, c in enumerate(C_GRID):
            predict = fit_probe(views, classes, train[fit_rows], c)
            inner[k] += float((predict(train[valid_rows]) == classes[train[valid_rows]]).mean()) / len(splits)
    best = int(np.argmax(inner))
    predict = fit_probe(views, classes, train, C_GRID[best])
    return {
        "C": C_GRID[best],
        "inner": float(inner[best]),
        "test": float((predict(test) == classes[test]).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--audio", default="../shared/data/esc10/audio_44k")
    parser.add_argument("--out", default="runs/aisfx_probe_features")
    parser.add_argument("--phase", choices=("select", "final"), default="select")
    parser.add_argument("--speeds", type=float, nargs="+", default=[1.0], help="1.0 first: the originals")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANT_LAYERS), default=list(VARIANT_LAYERS))
    parser.add_argument("--hop-frames", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.speeds[0] != 1.0:
        parser.error("--speeds must start with 1.0 (the originals, scored at test)")
    files = sorted(Path(args.audio).glob("*/*.ogg"))
    if len(files) != 400:
        raise SystemExit(f"expected the 400 ESC-10 clips under {args.audio}, found {len(files)}")
    names = sorted({path.parent.name for path in files})
    classes = np.array([names.index(path.parent.name) for path in files])
    parsed = [CLIP_NAME.match(path.name) for path in files]
    if any(match is None for match in parsed):
        raise SystemExit(f"clip names under {args.audio} are not <fold>-<id>-<take>")
    folds = np.array([int(m.group(1)) for m in parsed if m])
    groups = np.array([f"{m.group(1)}-{m.group(2)}" for m in parsed if m])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cached = []
    for speed in args.speeds:
        path = out / f"features_hop{args.hop_frames}_speed{speed}.npy"
        if not path.exists():
            rows, seconds = clip_features(files, speed, args.hop_frames)
            np.save(path, rows)
            print(f"features at speed {speed}: {seconds:.0f} CPU-s for {len(files)} clips", flush=True)
        cached.append(np.load(path))
    outer = (1, 2, 3, 4) if args.phase == "select" else (1, 2, 3, 4, 5)
    pool = np.flatnonzero(np.isin(folds, outer))
    for variant in args.variants:
        picked = columns(variant)
        views = [rows[:, picked] for rows in cached]
        started = time.process_time()
        results = [
            probe(views, classes, groups, pool[folds[pool] != f], pool[folds[pool] == f]) for f in outer
        ]
        record = {
            "phase": args.phase,
            "variant": variant,
            "speeds": args.speeds,
            "dims": len(picked),
            "outer_folds": list(outer),
            "test": [r["test"] for r in results],
            "mean_test": float(np.mean([r["test"] for r in results])),
            "mean_inner": float(np.mean([r["inner"] for r in results])),
            "C": [r["C"] for r in results],
            "probe_cpu_seconds": time.process_time() - started,
        }
        print(json.dumps(record), flush=True)
        with (out / "results.jsonl").open("a") as log:
            log.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
