"""earmark from Python, notebook style: prepare real ESC-10 clips, train, evaluate, tag.

Run it as a script (``python docs/example_api.py [work-dir]``) or cell by cell in a notebook;
the test suite runs it (``tests/test_docs_example.py``). It trains a deliberately tiny run on a
few real clips so it finishes in seconds; use ``recipes/esc10.yaml`` for a real model.
The real data is found as the tests find it: ``$EARMARK_DATA``, else ``../shared/data``.
"""

# %% Setup: where the data is and where this example writes
import sys
import tempfile
from pathlib import Path

import numpy as np

import earmark
from earmark.testing import data_root

esc10 = data_root() / "esc10" / "audio"
work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="earmark-example-"))
chosen = ["004 - Baby cry", "007 - Helicopter", "009 - Rooster"]  # three of the ten classes

# %% Prepare: a folder per class; the fold is the first digit of each file name. Here a
# folder of links to three classes keeps the example small.
subset = work / "esc10-subset"
for name in chosen:
    link = subset / name
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to((esc10 / name).resolve(), target_is_directory=True)
prepared = earmark.prepare(
    "folder", work / "prepared", options={"root": str(subset), "fold_pattern": r"^(\d+)-"}
)
print(f"prepared {prepared.clips_per_split} clips into {prepared.directory}")

# %% Train: folds 1-4 train, fold 5 tests; a small attention-MIL model over 1 s segments.
recipe = {
    "data": {"prepared": str(work / "prepared"), "test_folds": [5]},
    "model": "attention_mil",
    "model_options": {"hidden_layers": 1, "hidden_units": 64, "dropout": 0.2},
    "segment_seconds": 1.0,
    "hop_seconds": 0.5,
    "batch_size": 32,
    "epochs": 6,
    "metric": "accuracy",
    "report": False,
    "optim": {"name": "adam", "lr": 0.003},
}
summary = earmark.train(recipe, work / "run", overwrite=True)
print("test:", {name: round(value, 3) for name, value in summary["test"].items()})

# %% Evaluate the run's test predictions against the labels (with bootstrap intervals)
evaluation = earmark.evaluate(work / "run", work / "prepared" / "labels.csv", bootstrap=50)
print("test lwlrap", round(evaluation.metrics["summary"]["lwlrap"], 3))

# %% Tag a real clip the run never saw (fold 5), from its file...
tagger = earmark.load_run(work / "run")
clip = sorted((esc10 / "009 - Rooster").glob("5-*.flac"))[0]
tags = tagger.predict(clip)
print(f"{clip.name}: {tags.top(3)}; present: {tags.present}")

# %% ...or from an array of samples at any rate (resampled to the run's rate)
samples, rate = earmark.load_audio(clip)
from_array = tagger.predict(samples, sample_rate=rate)
print("same scores from the array:", np.allclose(from_array.scores, tags.scores, atol=1e-4))

# %% When each class occurs: segment scores over time, and thresholded events
timeline = tagger.timeline(clip)
print(f"{len(timeline.start_seconds)} segments over {timeline.duration_seconds:.2f} s")
for event in timeline.events(tagger.thresholds, min_duration_seconds=0.5):
    span = f"{event.onset_seconds:.2f}-{event.offset_seconds:.2f} s"
    print(f"  {event.label}: {span} (peak {event.peak_score:.2f})")
