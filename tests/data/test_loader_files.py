"""The file-name layout: labels, groups and splits from named regex groups over file names."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from earmark.config import ConfigError
from earmark.data.labels import LabelError
from earmark.data.loaders import load_dataset
from earmark.data.loaders.files import SplitRuleError, parse_split_rule
from earmark.testing import write_tone

DIGITS = r"^(?P<label>\d)_(?P<group>[a-z]+)_(?P<index>\d+)"
SPEAKERS = ("jackson", "nicolas", "theo", "yweweler")


def spoken_digits(root: Path, *, takes: int = 6, digits: int = 3) -> Path:
    """A flat folder named like the Free Spoken Digit Dataset: ``<digit>_<speaker>_<index>.wav``."""
    for digit in range(digits):
        for speaker in SPEAKERS:
            for index in range(takes):
                write_tone(
                    root / f"{digit}_{speaker}_{index}.wav",
                    frequency_hz=200.0 + 100 * digit,
                    duration_seconds=0.05,
                    sample_rate=8000,
                )
    return root


def test_label_group_and_index_rule(tmp_path):
    root = spoken_digits(tmp_path / "digits")
    (root / "README.md").write_text("not audio")
    manifest = load_dataset("files", {"root": str(root), "pattern": DIGITS, "test": "index<5"})
    labels = manifest.labels
    assert labels.class_names == ("0", "1", "2")
    assert labels.num_clips == 3 * 4 * 6
    ids = labels.clip_ids.tolist()
    assert "2_theo_5" in ids
    row = ids.index("2_theo_5")
    assert labels.positive[row].tolist() == [False, False, True]
    assert labels.annotated.all()
    index = np.array([int(c.rsplit("_", 1)[1]) for c in ids])
    assert (manifest.splits[index < 5] == "test").all()
    assert (manifest.splits[index >= 5] == "train").all()


def test_an_explicit_list_of_speakers_keeps_each_speaker_on_one_side(tmp_path):
    root = spoken_digits(tmp_path / "digits", takes=2)
    manifest = load_dataset("files", {"root": str(root), "pattern": DIGITS, "test": "group=theo, jackson"})
    speakers = np.array([c.split("_")[1] for c in manifest.labels.clip_ids])
    assert set(speakers[manifest.splits == "test"]) == {"theo", "jackson"}
    assert set(speakers[manifest.splits == "train"]) == {"nicolas", "yweweler"}
    rest = load_dataset("files", {"root": str(root), "pattern": DIGITS, "test": "group!=theo"})
    assert set(np.array([c.split("_")[1] for c in rest.labels.clip_ids])[rest.splits == "test"]) == {
        "jackson",
        "nicolas",
        "yweweler",
    }


def test_a_rule_that_splits_a_group_is_reported(tmp_path, caplog):
    root = spoken_digits(tmp_path / "digits", takes=2, digits=1)
    with caplog.at_level(logging.WARNING, logger="earmark.data.loaders.files"):
        load_dataset("files", {"root": str(root), "pattern": DIGITS, "test": "index<1"})
    assert "puts 4 groups on both sides" in caplog.text


def test_folds_keep_every_speaker_in_one_fold(tmp_path):
    root = spoken_digits(tmp_path / "digits", takes=3)
    manifest = load_dataset("files", {"root": str(root), "pattern": DIGITS, "folds": 2, "seed": 3})
    labels = manifest.labels
    speakers = np.array([c.split("_")[1] for c in labels.clip_ids])
    assert set(labels.fold.tolist()) == {1, 2}
    for speaker in SPEAKERS:
        assert len(set(labels.fold[speakers == speaker].tolist())) == 1, speaker
    with pytest.raises(LabelError, match="4 clips \\(or groups\\) cannot fill 5 folds"):
        load_dataset("files", {"root": str(root), "pattern": DIGITS, "folds": 5})


def test_fold_group_and_relative_path_matching(tmp_path):
    for fold in (1, 2):
        for name in ("dog", "cat"):
            write_tone(tmp_path / name / f"{fold}-take.wav", duration_seconds=0.05)
    manifest = load_dataset(
        "files",
        {"root": str(tmp_path), "pattern": r"^(?P<label>[^/]+)/(?P<fold>\d+)-", "match_on": "path"},
    )
    assert manifest.labels.class_names == ("cat", "dog")
    assert manifest.labels.clip_ids.tolist() == ["cat/1-take", "cat/2-take", "dog/1-take", "dog/2-take"]
    assert manifest.labels.fold.tolist() == [1, 2, 1, 2]
    assert set(manifest.splits.tolist()) == {"all"}


def test_classes_sort_numerically(tmp_path):
    for label in ("10", "2", "1"):
        write_tone(tmp_path / f"{label}_a.wav", duration_seconds=0.05)
    manifest = load_dataset("files", {"root": str(tmp_path), "pattern": r"^(?P<label>\d+)_"})
    assert manifest.labels.class_names == ("1", "2", "10")


def test_unmatched_files_raise_or_are_skipped(tmp_path):
    root = spoken_digits(tmp_path / "digits", takes=1, digits=1)
    write_tone(root / "noise.wav", duration_seconds=0.05)
    with pytest.raises(LabelError, match=r"noise.wav: name 'noise' does not match pattern .*unmatched=skip"):
        load_dataset("files", {"root": str(root), "pattern": DIGITS})
    manifest = load_dataset("files", {"root": str(root), "pattern": DIGITS, "unmatched": "skip"})
    assert "noise" not in manifest.labels.clip_ids.tolist()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pattern": r"^(\d)_"}, "has no named group 'label'"),
        ({"pattern": r"^(?P<label>\d"}, "is not a valid regex"),
        (
            {"pattern": DIGITS, "test": "speaker<5"},
            "reads group 'speaker', which the pattern",
        ),
        ({"pattern": DIGITS, "test": "index<five"}, "'five' is not a number"),
        ({"pattern": DIGITS, "test": "index"}, "must look like NAME<5 or NAME=a,b"),
        ({"pattern": DIGITS, "test": "group="}, "lists no value"),
    ],
)
def test_bad_patterns_and_rules_name_the_fault(tmp_path, options, message):
    root = spoken_digits(tmp_path / "digits", takes=1, digits=1)
    with pytest.raises((LabelError, SplitRuleError), match=message):
        load_dataset("files", {"root": str(root), **options})


def test_unknown_keys_list_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key files.label_pattern; valid keys: .*pattern"):
        load_dataset("files", {"root": str(tmp_path), "pattern": DIGITS, "label_pattern": "x"})


def test_a_group_value_that_is_not_a_number_names_the_rule():
    _, selected = parse_split_rule("index>=2", {"index"})
    assert selected("3")
    assert not selected("1")
    with pytest.raises(SplitRuleError, match="index 'x' is not a number"):
        selected("x")


def test_a_flat_folder_tells_the_folder_layout_user_about_files(tmp_path):
    write_tone(tmp_path / "0_a_1.wav", duration_seconds=0.05)
    with pytest.raises(LabelError, match="use the 'files' layout"):
        load_dataset("folder", {"root": str(tmp_path)})
