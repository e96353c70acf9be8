from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from earmark.config import ConfigError
from earmark.data.labels import LabelError
from earmark.data.loaders import load_dataset
from earmark.features.embeddings import dequantize_uint8


@pytest.fixture
def openmic(shared_data: Path, tmp_path: Path) -> dict[str, object]:
    """A small npz in the real layout, keyed by real sample keys of the official split."""
    meta = shared_data / "openmic_meta"
    train = (meta / "split01_train.csv").read_text().split()[:30]
    test = (meta / "split01_test.csv").read_text().split()[:10]
    keys = np.array([*train[:20], *test[:5], "999999_0", *train[20:], *test[5:]])  # one key in no split
    rng = np.random.default_rng(7)
    n = len(keys)
    arrays = {
        "X": rng.integers(0, 256, size=(n, 10, 128), dtype=np.uint8),
        "Y_true": rng.random((n, 20)),
        "Y_mask": rng.random((n, 20)) < 0.3,
        "sample_key": keys,
    }
    npz = tmp_path / "openmic-2018.npz"
    np.savez(npz, **arrays)
    options = {
        "npz": str(npz),
        "class_map": str(meta / "class-map.json"),
        "train_split": str(meta / "split01_train.csv"),
        "test_split": str(meta / "split01_test.csv"),
    }
    return {"options": options, "arrays": arrays, "train": set(train), "test": set(test)}


def test_openmic_labels_splits_and_frames(openmic):
    options, arrays = openmic["options"], openmic["arrays"]
    manifest = load_dataset("openmic", options)
    labels = manifest.labels
    keep = np.array([k != "999999_0" for k in arrays["sample_key"]])
    assert labels.num_clips == 40
    assert labels.class_names[:3] == ("accordion", "banjo", "bass")
    assert labels.class_names[-1] == "voice"
    assert labels.clip_ids.tolist() == arrays["sample_key"][keep].tolist()
    mask = arrays["Y_mask"][keep]
    assert np.array_equal(labels.annotated, mask)
    assert np.array_equal(labels.positive, mask & (arrays["Y_true"][keep] >= 0.5))
    assert np.array_equal(labels.missing, ~mask)
    splits = dict(zip(labels.clip_ids, manifest.splits, strict=True))
    assert {k for k, s in splits.items() if s == "train"} == openmic["train"]
    assert {k for k, s in splits.items() if s == "test"} == openmic["test"]
    assert manifest.precomputed is not None
    assert manifest.precomputed.config.dim == 128
    assert manifest.precomputed.config.frame_seconds == pytest.approx(0.96)
    rows = np.flatnonzero(keep)
    for i in (0, 24, 39):
        frames = manifest.precomputed.frames(i)
        assert frames.shape == (10, 128)
        assert frames.dtype == np.float32
        assert np.array_equal(frames, dequantize_uint8(arrays["X"][rows[i]]))
    assert set(manifest.audio_paths) == {""}
    assert manifest.check_files() == []


def test_threshold_option(openmic):
    options, arrays = openmic["options"], openmic["arrays"]
    keep = np.array([k != "999999_0" for k in arrays["sample_key"]])
    labels = load_dataset("openmic", {**options, "threshold": 0.9}).labels
    assert np.array_equal(labels.positive, arrays["Y_mask"][keep] & (arrays["Y_true"][keep] >= 0.9))
    with pytest.raises(ConfigError, match=r"openmic\.threshold must be positive and <= 1, got 0\.0"):
        load_dataset("openmic", {**options, "threshold": 0.0})


def test_npz_missing_an_array(openmic, tmp_path):
    arrays = dict(openmic["arrays"])
    del arrays["Y_mask"]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(LabelError, match=r"bad\.npz: array 'Y_mask' is missing"):
        load_dataset("openmic", {**openmic["options"], "npz": str(bad)})


def test_class_map_with_wrong_class_count(openmic, tmp_path):
    mapping = json.loads(Path(openmic["options"]["class_map"]).read_text())
    mapping.pop("voice")
    small = tmp_path / "class-map.json"
    small.write_text(json.dumps(mapping))
    with pytest.raises(LabelError, match=r"class map names 19 classes but Y_true has 20 columns"):
        load_dataset("openmic", {**openmic["options"], "class_map": str(small)})
    mapping["voice"] = 25
    small.write_text(json.dumps(mapping))
    with pytest.raises(LabelError, match=r"column indices must be 0\.\.19"):
        load_dataset("openmic", {**openmic["options"], "class_map": str(small)})


def test_inconsistent_arrays_and_splits(openmic, tmp_path):
    arrays = dict(openmic["arrays"])
    arrays["Y_mask"] = arrays["Y_mask"][:, :19]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(LabelError, match=r"Y_mask has shape \(41, 19\) but Y_true has \(41, 20\)"):
        load_dataset("openmic", {**openmic["options"], "npz": str(bad)})
    arrays = dict(openmic["arrays"], Y_true=openmic["arrays"]["Y_true"] * 2)
    np.savez(bad, **arrays)
    with pytest.raises(LabelError, match=r"Y_true must hold finite values in \[0, 1\]"):
        load_dataset("openmic", {**openmic["options"], "npz": str(bad)})
    both = tmp_path / "test.csv"
    both.write_text(Path(openmic["options"]["train_split"]).read_text().split()[0] + "\n")
    with pytest.raises(LabelError, match=r"sample key '\w+' is in both"):
        load_dataset("openmic", {**openmic["options"], "test_split": str(both)})
    (tmp_path / "a.csv").write_text("nothing_here\n")
    (tmp_path / "b.csv").write_text("\n")
    splits = {"train_split": str(tmp_path / "a.csv"), "test_split": str(tmp_path / "b.csv")}
    with pytest.raises(LabelError, match=r"no sample key is listed"):
        load_dataset("openmic", {**openmic["options"], **splits})


def test_unreadable_npz(openmic, tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(LabelError, match=r"broken\.npz: cannot be read"):
        load_dataset("openmic", {**openmic["options"], "npz": str(bad)})


def test_the_official_split_becomes_folds(openmic):
    labels = load_dataset("openmic", openmic["options"]).labels
    train = set(labels.clip_ids[labels.fold == 1].tolist())
    test = set(labels.clip_ids[labels.fold == 2].tolist())
    assert train == openmic["train"]
    assert test == openmic["test"]
