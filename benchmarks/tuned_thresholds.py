"""Per-class thresholds tuned on a run's validation split, scored on its test split.

Tunes the thresholds exactly as ``earmark evaluate --tune-thresholds`` does (validation
predictions only), then compares test macro-F1 at the fixed 0.5 threshold with macro-F1 at the
tuned thresholds: a paired bootstrap over the test clips (the tuned thresholds are applied by
shifting each class's scores so that 0.5 falls where its threshold is, which leaves every
decision unchanged). Prints one JSON object; CPU seconds are process time.

    python benchmarks/tuned_thresholds.py --run runs/thresholds-audioset --labels LABELS.csv
    python benchmarks/tuned_thresholds.py --run RUN --labels TRUTH.csv --valid-labels RUN_LABELS.csv
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from earmark.data.table import read_labels
from earmark.metrics import f1_macro, paired_bootstrap
from earmark.predictions import Predictions
from earmark.thresholds import tune_thresholds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", type=Path, required=True, help="a run with predictions/valid.npz and test.npz"
    )
    parser.add_argument(
        "--labels", type=Path, required=True, help="the label table the run was scored against"
    )
    parser.add_argument(
        "--valid-labels",
        type=Path,
        help="labels the thresholds are tuned with (default: --labels), e.g. the run's own",
    )
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    started = time.process_time()
    labels = read_labels(args.labels)
    valid = Predictions.read(args.run / "predictions" / "valid.npz")
    test = Predictions.read(args.run / "predictions" / "test.npz")
    valid_labels = read_labels(args.valid_labels) if args.valid_labels else labels
    tuned = tune_thresholds(valid, valid_labels, split="valid", test_predictions=test)
    aligned, kept = test.align(labels)
    known = kept.evaluation_mask("auto")
    values = tuned.for_classes(kept.class_names)
    shifted = np.clip(aligned.scores - values + 0.5, 0.0, 1.0)  # decisions at 0.5 = decisions at values

    def macro_f1(y: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None) -> float:
        return f1_macro(y, scores, thresholds=0.5, mask=mask)

    comparison = paired_bootstrap(
        macro_f1, kept.positive, aligned.scores, shifted, mask=known,
        rng=np.random.default_rng(0), num_resamples=args.resamples,
    )  # fmt: skip
    result = {
        "run": str(args.run),
        "valid_clips": tuned.figures["clips"],
        "test_clips": kept.num_clips,
        "valid_f1_macro_at_0.5": tuned.figures["f1_macro_at_0.5"],
        "valid_f1_macro_tuned": tuned.figures["f1_macro_tuned"],
        "test_f1_macro_at_0.5": comparison.metric_a,
        "test_f1_macro_tuned": comparison.metric_b,
        "test_f1_macro_at_tuned_check": f1_macro(
            kept.positive, aligned.scores, thresholds=values, mask=known
        ),
        "difference": comparison.difference,
        "interval": [comparison.low, comparison.high],
        "p_value": comparison.p_value,
        "cpu_seconds": round(time.process_time() - started, 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
