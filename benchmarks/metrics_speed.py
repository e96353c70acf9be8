"""Speed and memory of earmark's lwlrap and macro AP against scikit-learn, in the same run.

Score matrices are seeded random float32 of 20,000 × 80 and 100,000 × 527 (FSDKaggle2019- and
AudioSet-like), with 1 to 3 positive labels per clip drawn from a skewed class prior (every
class gets at least one positive) and positives scored a little higher than negatives.

- lwlrap: ``earmark.metrics.lwlrap`` against scikit-learn's
  ``label_ranking_average_precision_score`` with ``sample_weight`` = positives per clip (the
  published lwlrap definition).
- macro AP: ``earmark.metrics.average_precision_macro`` against scikit-learn's
  ``average_precision_score(average="macro")``.

Each call is timed ``--repeats`` times (scikit-learn ``--sklearn-repeats`` times); the best time
is reported. Peak memory of the earmark calls is measured in a separate call under tracemalloc
(numpy allocations are traced) and given in MB and in copies of the score matrix.

    python benchmarks/metrics_speed.py [--sizes 20000x80,100000x527] [--repeats 5] [--sklearn-repeats 3]

Prints the machine and a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, label_ranking_average_precision_score

from earmark.metrics import average_precision_macro, lwlrap


def make_case(num_clips: int, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels with 1-3 positives per clip from a skewed prior; float32 scores."""
    rng = np.random.default_rng(seed)
    prior = 1.0 / np.arange(1, num_classes + 1) ** 0.8
    prior /= prior.sum()
    positive = np.zeros((num_clips, num_classes), dtype=bool)
    counts = rng.integers(1, 4, num_clips)
    for rank in range(3):
        rows = np.flatnonzero(counts > rank)
        positive[rows, rng.choice(num_classes, size=len(rows), p=prior)] = True
    positive[np.arange(num_classes), np.arange(num_classes)] = True  # every class has a positive
    scores = rng.random((num_clips, num_classes), dtype=np.float32)
    scores += positive * rng.uniform(0.1, 0.6, num_classes).astype(np.float32)
    return positive, scores


def best_seconds(call: Callable[[], float], repeats: int) -> tuple[float, float]:
    times, value = [], float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        value = call()
        times.append(time.perf_counter() - start)
    return min(times), value


def peak_megabytes(call: Callable[[], float]) -> float:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - before) / 2**20


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000x80,100000x527")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sklearn-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"machine: {cores} CPU cores available, {cpu_model()}; Python {platform.python_version()}, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}\n"
    )
    header = [
        "scores",
        "metric",
        "earmark s",
        "scikit-learn s",
        "speed-up",
        "earmark peak MB (copies)",
        "abs diff",
    ]
    print("| " + " | ".join(header) + " |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        num_clips, num_classes = (int(v) for v in size.lower().split("x"))
        y, scores = make_case(num_clips, num_classes, args.seed)
        matrix_mb = scores.nbytes / 2**20
        weights = y.sum(axis=1)
        cases = [
            (
                "lwlrap",
                lambda y=y, s=scores: lwlrap(y, s),
                lambda y=y, s=scores, w=weights: label_ranking_average_precision_score(y, s, sample_weight=w),
            ),
            (
                "macro AP",
                lambda y=y, s=scores: average_precision_macro(y, s),
                lambda y=y, s=scores: average_precision_score(y, s, average="macro"),
            ),
        ]
        for name, ours, theirs in cases:
            ours_seconds, ours_value = best_seconds(ours, args.repeats)
            theirs_seconds, theirs_value = best_seconds(theirs, args.sklearn_repeats)
            peak = peak_megabytes(ours)
            print(
                f"| {num_clips:,} × {num_classes} | {name} | {ours_seconds:.3f} | {theirs_seconds:.3f} | "
                f"{theirs_seconds / ours_seconds:.1f}× | {peak:.0f} ({peak / matrix_mb:.1f}×) | "
                f"{abs(ours_value - theirs_value):.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
