from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from earmark.data.labels import LabelError
from earmark.data.loaders import load_dataset

# The SONYC-UST v2 taxonomy (dcase-ust-taxonomy.yaml) and column layout of annotations.csv.
COARSE = {
    1: "engine",
    2: "machinery-impact",
    3: "non-machinery-impact",
    4: "powered-saw",
    5: "alert-signal",
    6: "music",
    7: "human-voice",
    8: "dog",
}
FINE = {
    1: [
        "small-sounding-engine",
        "medium-sounding-engine",
        "large-sounding-engine",
        "engine-of-uncertain-size",
    ],
    2: ["rock-drill", "jackhammer", "hoe-ram", "pile-driver", "other-unknown-impact-machinery"],
    3: ["non-machinery-impact"],
    4: ["chainsaw", "small-medium-rotating-saw", "large-rotating-saw", "other-unknown-powered-saw"],
    5: ["car-horn", "car-alarm", "siren", "reverse-beeper", "other-unknown-alert-signal"],
    6: ["stationary-music", "mobile-music", "ice-cream-truck", "music-from-uncertain-source"],
    7: [
        "person-or-small-group-talking",
        "person-or-small-group-shouting",
        "large-crowd",
        "amplified-speech",
        "other-unknown-human-voice",
    ],
    8: ["dog-barking-whining"],
}
UNCERTAIN = {1, 2, 4, 5, 6, 7}  # coarse classes whose last fine class is the "X" one
META = ["split", "sensor_id", "audio_filename", "annotator_id", "borough", "block", "latitude", "longitude"]
META += ["year", "week", "day", "hour"]


def fine_codes() -> list[tuple[str, str]]:
    codes = []
    for coarse, names in FINE.items():
        for i, name in enumerate(names, start=1):
            fine = "X" if coarse in UNCERTAIN and i == len(names) else str(i)
            codes.append((f"{coarse}-{fine}", f"{coarse}-{fine}_{name}"))
    return codes


FINE_CODES = fine_codes()
HEADER = [
    *META,
    *[f"{full}_presence" for _, full in FINE_CODES],
    *[f"{full}_proximity" for _, full in FINE_CODES],
    *[f"{c}_{n}_presence" for c, n in COARSE.items()],
]


def row(split: str, filename: str, annotator: int, positive=(), missing=(), empty=()) -> dict[str, str]:
    cells = dict.fromkeys(HEADER, "")
    cells.update(split=split, sensor_id="7", audio_filename=filename, annotator_id=str(annotator))
    cells.update(borough="1", block="547", latitude="40.73", longitude="-73.99", year="2019", week="1")
    cells.update(day="0", hour="9")
    for code, full in FINE_CODES:
        value = "-1" if code in missing else "1" if code in positive else "0"
        cells[f"{full}_presence"] = "" if code in empty else value
        cells[f"{full}_proximity"] = "near" if code in positive and annotator > 0 else "-1"
    for coarse, name in COARSE.items():
        group = [code for code, _ in FINE_CODES if code.startswith(f"{coarse}-")]
        if all(code in missing for code in group):
            cells[f"{coarse}_{name}_presence"] = "-1"
        else:
            cells[f"{coarse}_{name}_presence"] = "1" if any(code in positive for code in group) else "0"
    return cells


ALL_BUT_ENGINES = {code for code, _ in FINE_CODES if not code.startswith("1-")}
ROWS = [
    row("train", "a.wav", 11, positive={"1-1", "7-1"}),
    row("train", "a.wav", 12, positive={"1-1"}),
    row("train", "a.wav", 13, positive={"1-2"}),
    row("train", "a.wav", -5, positive={"1-2"}, missing=ALL_BUT_ENGINES),  # team member: unused
    row("train", "a.wav", 0, positive={"1-1"}),
    row("train", "b.wav", 21, positive={"5-3"}),
    row("train", "b.wav", 22, empty={"8-1"}),
    row("train", "b.wav", 23, positive={"5-3", "8-1"}),
    row("validate", "c.wav", 0, positive={"6-1"}, missing={"7-1"}),
    row("test", "d.wav", 0, positive={"8-1"}),
]


def write_annotations(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def annotations(tmp_path: Path) -> Path:
    return write_annotations(tmp_path / "annotations.csv", ROWS)


def load(annotations: Path, **options: object):
    return load_dataset("sonyc_ust", {"annotations": str(annotations), **options})


def positives(labels, clip: str) -> set[str]:
    row = labels.clip_ids.tolist().index(clip)
    return {name.split("_")[0] for name, p in zip(labels.class_names, labels.positive[row], strict=True) if p}


def test_fine_vocabulary_in_code_order(annotations):
    labels = load(annotations).labels
    assert labels.num_classes == 29
    assert labels.class_names[:4] == (
        "1-1_small-sounding-engine",
        "1-2_medium-sounding-engine",
        "1-3_large-sounding-engine",
        "1-X_engine-of-uncertain-size",
    )
    assert labels.class_names[-1] == "8-1_dog-barking-whining"
    assert load(annotations, include_uncertain=False).labels.num_classes == 23


def test_verified_annotation(annotations):
    manifest = load(annotations, annotation="verified")
    labels = manifest.labels
    assert labels.clip_ids.tolist() == ["a", "c", "d"]
    assert manifest.splits.tolist() == ["train", "validate", "test"]
    assert set(labels.source) == {"curated"}
    assert positives(labels, "a") == {"1-1"}  # the team member's 1-2 is not used
    assert positives(labels, "c") == {"6-1"}
    assert positives(labels, "d") == {"8-1"}
    missing = labels.missing[1]
    assert [name for name, m in zip(labels.class_names, missing, strict=True) if m] == [
        "7-1_person-or-small-group-talking"
    ]
    assert labels.annotated[[0, 2]].all()


def test_crowd_any_and_majority(annotations):
    any_vote = load(annotations, annotation="crowd").labels
    assert any_vote.clip_ids.tolist() == ["a", "b"]
    assert set(any_vote.source) == {"noisy"}
    assert positives(any_vote, "a") == {"1-1", "1-2", "7-1"}
    assert positives(any_vote, "b") == {"5-3", "8-1"}
    assert any_vote.annotated.all()  # the empty cell of one volunteer leaves two votes
    majority = load(annotations, annotation="crowd", crowd_vote="majority").labels
    assert positives(majority, "a") == {"1-1"}
    assert positives(majority, "b") == {"5-3"}  # 8-1: one of two votes is no majority


def test_verified_else_crowd_and_split_selection(annotations, tmp_path):
    (tmp_path / "train").mkdir()
    manifest = load(annotations, audio_root=str(tmp_path))
    labels = manifest.labels
    assert labels.clip_ids.tolist() == ["a", "b", "c", "d"]
    assert labels.source.tolist() == ["curated", "noisy", "curated", "curated"]
    assert positives(labels, "a") == {"1-1"}
    # a split folder is used when it exists, else the flat folder
    assert manifest.audio_paths.tolist()[:3] == [
        str(tmp_path / "train" / "a.wav"),
        str(tmp_path / "train" / "b.wav"),
        str(tmp_path / "c.wav"),
    ]
    train = load(annotations, splits=["train"])
    assert train.labels.clip_ids.tolist() == ["a", "b"]
    assert train.split_names == ["train"]


def test_coarse_level(annotations):
    labels = load(annotations, level="coarse").labels
    assert labels.class_names == tuple(f"{c}_{n}" for c, n in COARSE.items())
    assert np.array_equal(labels.positive[0], [True, False, False, False, False, False, False, False])
    assert labels.positive[2, 5]  # c: music
    crowd = load(annotations, level="coarse", annotation="crowd").labels
    assert crowd.positive[0, [0, 6]].all()  # a: engine and human voice from the volunteers


def test_missing_required_column(tmp_path):
    header = [c for c in HEADER if c != "annotator_id"]
    path = write_annotations(tmp_path / "annotations.csv", ROWS, header)
    with pytest.raises(
        LabelError, match=r"annotations\.csv: SONYC-UST annotations has no column 'annotator_id'"
    ):
        load(path)
    header = [c for c in HEADER if not c.endswith("_presence") or c[1] == "_"]
    path = write_annotations(tmp_path / "annotations.csv", ROWS, header)
    with pytest.raises(
        LabelError, match=r"no fine presence column \(a column named like <coarse_id>-<fine_id>"
    ):
        load(path)


def test_bad_values_raise_naming_line_and_column(tmp_path):
    bad = row("train", "a.wav", 11)
    bad["5-3_siren_presence"] = "2"
    path = write_annotations(tmp_path / "annotations.csv", [*ROWS, bad])
    with pytest.raises(LabelError, match=r"line 12: column '5-3_siren_presence' holds '2'"):
        load(path)
    bad = row("validate", "a.wav", 14)
    path = write_annotations(tmp_path / "annotations.csv", [*ROWS, bad])
    with pytest.raises(
        LabelError, match=r"line 12: clip 'a' is in split 'validate' here but in 'train' on line 2"
    ):
        load(path)
    bad = row("train", "e.wav", 11)
    bad["annotator_id"] = "volunteer"
    path = write_annotations(tmp_path / "annotations.csv", [*ROWS, bad])
    with pytest.raises(LabelError, match=r"line 12: column 'annotator_id' holds 'volunteer'"):
        load(path)


def test_no_rows_or_no_annotation_of_the_kind(annotations):
    with pytest.raises(
        LabelError, match=r"no rows in splits evaluate \(splits present: test, train, validate\)"
    ):
        load(annotations, splits=["evaluate"])
    with pytest.raises(LabelError, match=r"no clip of splits test has a crowd annotation"):
        load(annotations, splits=["test"], annotation="crowd")


def test_the_official_split_becomes_folds(annotations):
    manifest = load(annotations)
    folds = {"train": 1, "validate": 2, "test": 3}
    assert manifest.labels.fold.tolist() == [folds[s] for s in manifest.splits.tolist()]
