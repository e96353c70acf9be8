"""The shipped recipes, run small: FSDKaggle2019 on a clone of its real layout, ESC crowd noise for real."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile

from earmark.data.edits import read_edits
from earmark.data.loaders import load_dataset
from earmark.data.table import read_labels
from earmark.features.logmel import LogMelConfig
from earmark.pipeline import load_recipe, run_pipeline
from earmark.prepare import prepare

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
TINY = [
    "train.model=cnn",
    "train.model_options={channels: [8, 16], width_multiplier: 1.0}",
    "train.segment_frames=16",
    "train.predict_hop_frames=16",
    "train.report=false",
]


def _rows(path: Path) -> list[tuple[str, list[str]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(row["fname"], row["labels"].split(",")) for row in csv.DictReader(handle)]


def _pick(rows: list[tuple[str, list[str]]], per_class: int) -> list[tuple[str, list[str]]]:
    """Rows of the real file, in file order, until every class has ``per_class`` of them."""
    counts: Counter[str] = Counter()
    picked = []
    for fname, labels in rows:
        if any(counts[label] < per_class for label in labels):
            picked.append((fname, labels))
            counts.update(labels)
    return picked


def _write_clone(real: Path, root: Path) -> dict[str, int]:
    """The real label files cut down to a few clips per class, with tone audio for each clip."""
    curated = _pick(_rows(real / "train_curated.csv"), 6)
    noisy = _pick([r for r in _rows(real / "train_noisy.csv") if len(r[1]) == 1], 3)
    classes = sorted({label for _, labels in curated + noisy for label in labels})
    frequency = {name: 150.0 * 1.045**k for k, name in enumerate(classes)}
    t = np.arange(8000) / 16000
    for part, rows in (("train_curated", curated), ("train_noisy", noisy)):
        (root / part).mkdir(parents=True, exist_ok=True)
        with open(root / f"{part}.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["fname", "labels"])
            for fname, labels in rows:
                writer.writerow([fname, ",".join(labels)])
                signal = sum(0.2 * np.sin(2 * np.pi * frequency[label] * t) for label in labels)
                soundfile.write(str(root / part / fname), np.asarray(signal, dtype=np.float32), 16000)
    return {"curated": len(curated), "noisy": len(noisy), "classes": len(classes)}


def test_fsdkaggle2019_multistage_on_a_clone_of_the_real_layout(shared_data, tmp_path):
    real = shared_data / "fsdkaggle2019_labels"
    if not real.is_dir():
        pytest.skip(f"FSDKaggle2019 label files not found at {real}")
    clone = tmp_path / "fsd"
    counts = _write_clone(real, clone)
    assert counts["classes"] == 80
    manifest = load_dataset("fsdkaggle2019", {"root": str(clone), "audio_root": str(clone)})
    prepare(manifest, tmp_path / "prepared", LogMelConfig(n_mels=32))
    recipe = load_recipe(
        RECIPES / "fsdkaggle2019_multistage.yaml",
        [
            f"prepared={tmp_path / 'prepared'}",
            f"out={tmp_path / 'pipeline'}",
            *TINY,
            "train.validate_every=0",
            "stages.best50s.per_class=2",
            "stages.stage0.train.epochs=2",
            "stages.stage1.train.epochs=4",
            "stages.stage2.train.epochs=1",
        ],
    )
    assert [s.name for s in recipe.stages] == ["split", "best50s", "stage0", "stage1", "filter", "stage2"]
    results = run_pipeline(recipe)
    out = tmp_path / "pipeline"
    split = read_labels(out / "split" / "labels.csv")
    folds = Counter(split.fold[split.source == "curated"].tolist())
    assert sorted(folds) == [1, 2, 3]
    assert folds[1] / counts["curated"] == pytest.approx(0.8, abs=0.01)
    assert set(split.fold[split.source == "noisy"].tolist()) == {-1}
    best = read_labels(out / "best50s" / "labels.csv")
    assert (best.positive[best.source == "noisy"].sum(0) <= 2).all()
    filtered = read_labels(out / "filter" / "labels.csv")
    summary = results["filter"]["summary"]
    assert summary["kept"] > 0
    assert (filtered.source == "unlabeled").sum() == summary["rejected"]
    stage2 = results["stage2"]["summary"]
    assert np.isfinite(stage2["valid"]["lwlrap"])
    assert np.isfinite(stage2["test"]["lwlrap"])
    config = (out / "stage2" / "config.yaml").read_text()
    assert "strategy: consistency" in config
    assert "sampler: labeled_unlabeled" in config


def test_esc_crowd_noisy_on_the_real_crowd_labels(shared_data, esc10_prepared, tmp_path, monkeypatch):
    esc10 = shared_data / "esc10"
    recipe = load_recipe(
        RECIPES / "esc_crowd_noisy.yaml",
        [
            f"prepared={esc10_prepared}",
            f"out={tmp_path / 'pipeline'}",
            *TINY,
            "train.augment={}",
            "train.segment_frames=64",
            "train.predict_hop_frames=64",
            f"stages.crowd.take.options.judgments={esc10 / 'crowd_judgments.csv'}",
            f"stages.crowd.take.options.audio_root={esc10 / 'audio'}",
            *(f"stages.{name}.train.epochs=1" for name in ("naive", "stage0", "stage1", "stage2")),
        ],
    )
    results = run_pipeline(recipe)
    out = tmp_path / "pipeline"
    labels = read_labels(out / "crowd" / "labels.csv")
    truth = read_labels(esc10_prepared / "labels.csv")
    sources = Counter(labels.source.tolist())
    assert sources["curated"] == 40 + 80  # 4 per class of folds 1-4, and fold 5
    assert (labels.fold[labels.source == "curated"] == 5).sum() == 80
    judged = load_dataset(
        "crowd", {"judgments": str(esc10 / "crowd_judgments.csv"), "audio_root": str(esc10 / "audio")}
    ).labels
    noisy = labels.clip_ids[labels.source == "noisy"]
    assert set(noisy) <= set(judged.clip_ids.tolist())
    # the noisy labels are the crowd's: a few differ from the truth, and each change is an edit
    same = truth.select(clip_ids=noisy.tolist())
    wrong = ~(labels.select(clip_ids=noisy.tolist()).positive == same.positive).all(1)
    assert 0.01 < wrong.mean() < 0.15  # 95.7 % of ESC-10 crowd judgments are right
    edits = read_edits(out / "crowd" / "edits.csv")
    assert len(edits) == 2 * int(wrong.sum())  # one remove and one add per wrong label
    assert results["filter"]["summary"]["kept"] > 0
    for name in ("naive", "stage0", "stage1", "stage2"):
        assert 0.0 <= results[name]["summary"]["test"]["accuracy"] <= 1.0
    status = json.loads((out / "stage2" / "stage.json").read_text())
    assert status["status"] == "done"
