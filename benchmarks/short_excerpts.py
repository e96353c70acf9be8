"""How a trained ESC-10 run tags the loudest 0.2 s of each test clip, beside the whole clips.

For every clip of the chosen fold, the loudest ``--seconds`` of its audio (the same excerpt as
``tests/test_short_clips.py``) and the whole clip are tagged with the run's stored segmenting;
prints the share of right answers per class and overall.

    python benchmarks/short_excerpts.py --run runs/demo/esc10-run --prepared runs/demo/esc10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from earmark.data.table import read_labels
from earmark.features.audio import load_audio
from earmark.features.frontend import build_frontend
from earmark.runs import load_run
from earmark.testing import data_root, loudest_excerpt


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, required=True, help="a finished training run")
    parser.add_argument("--prepared", type=Path, required=True, help="its prepared ESC-10 directory")
    parser.add_argument("--fold", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.2)
    args = parser.parse_args()
    loaded = load_run(args.run)
    frontend = build_frontend(loaded.spec.frontend)
    labels = read_labels(args.prepared / "labels.csv").select(folds=[args.fold])
    files = {p.stem: p for p in (data_root() / "esc10" / "audio").glob("*/*.flac")}
    samples = round(args.seconds * loaded.spec.sample_rate)
    truth, excerpt, whole = [], [], []
    for clip, row in zip(labels.clip_ids.tolist(), labels.positive, strict=True):
        audio, _ = load_audio(files[clip], loaded.spec.sample_rate)
        truth.append(int(np.argmax(row)))
        excerpt.append(int(np.argmax(loaded.score([frontend.compute(loudest_excerpt(audio, samples))])[0])))
        whole.append(int(np.argmax(loaded.score([frontend.compute(audio)])[0])))
    t, e, w = np.array(truth), np.array(excerpt), np.array(whole)
    print(f"| class | right on {args.seconds} s excerpts | right on whole clips |")
    print("|---|---|---|")
    for k, name in enumerate(labels.class_names):
        print(f"| {name} | {np.mean(e[t == k] == k):.2f} | {np.mean(w[t == k] == k):.2f} |")
    print(f"| **all** | **{np.mean(e == t):.3f}** | **{np.mean(w == t):.3f}** |")


if __name__ == "__main__":
    main()
