from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.cli import app
from earmark.data.edits import EditError, LabelEdit, read_edits, write_edits
from earmark.data.loaders import load_dataset
from earmark.data.manifest import Manifest, read_manifest_csv
from earmark.data.table import read_labels
from earmark.features.logmel import LogMelConfig
from earmark.features.store import FeatureStore
from earmark.prepare import prepare
from earmark.testing import write_tone

CONFIG = LogMelConfig(n_mels=16)


def make_folder(root: Path) -> Path:
    for name, hz in [("001 - Low tone", 220.0), ("002 - High tone", 1760.0)]:
        for i in range(3):
            write_tone(root / name / f"{1 + i}-{int(hz)}{i}-A.wav", frequency_hz=hz, duration_seconds=0.4)
    return root


def folder_manifest(root: Path) -> Manifest:
    return load_dataset("folder", {"root": str(root), "fold_pattern": r"^(\d+)-"})


def test_prepare_applies_edits_and_never_decodes_blacklisted_clips(tmp_path):
    root = make_folder(tmp_path / "audio")
    # a blacklisted clip whose file is garbage: decoding it would fail the prepare
    (root / "001 - Low tone" / "1-2200-A.wav").write_bytes(b"not audio at all")
    edits = [
        LabelEdit("1-2200-A", "", "blacklist", who="me", why="broken"),
        LabelEdit("2-2201-A", "High tone", "add", who="me", why="heard it"),
        LabelEdit("1-17600-A", "High tone", "remove", who="me"),
    ]
    result = prepare(folder_manifest(root), tmp_path / "out", CONFIG, edits=edits)
    assert result.finished
    assert result.edits == {"add": 1, "remove": 1, "blacklist": 1}
    labels = read_labels(tmp_path / "out" / "labels.csv")
    assert "1-2200-A" not in labels.clip_ids.tolist()
    assert labels.num_clips == 5
    row = labels.clip_ids.tolist().index("2-2201-A")
    assert labels.positive[row].tolist() == [True, True]
    row = labels.clip_ids.tolist().index("1-17600-A")
    assert labels.positive[row].tolist() == [False, False]
    assert labels.annotated[row].tolist() == [True, True]
    store = FeatureStore(tmp_path / "out" / "features" / "all")
    assert "1-2200-A" not in store
    assert store.skipped == {}
    assert "1-2200-A" not in read_manifest_csv(tmp_path / "out" / "manifest.csv")
    assert read_edits(tmp_path / "out" / "edits.csv") == edits
    summary = json.loads((tmp_path / "out" / "prepare.json").read_text())
    assert summary["edits"] == {"add": 1, "remove": 1, "blacklist": 1}


def test_prepare_without_edits_is_unchanged_and_drops_a_stale_record(tmp_path):
    root = make_folder(tmp_path / "audio")
    out = tmp_path / "out"
    prepare(folder_manifest(root), out, CONFIG, edits=[LabelEdit("1-2200-A", "Low tone", "remove")])
    assert (out / "edits.csv").exists()
    result = prepare(folder_manifest(root), out, CONFIG)
    assert result.edits == {}
    assert not (out / "edits.csv").exists()
    labels = read_labels(out / "labels.csv")
    assert labels.positive[labels.clip_ids.tolist().index("1-2200-A")].tolist() == [True, False]
    assert json.loads((out / "prepare.json").read_text())["edits"] == {}


def test_relabel_a_finished_prepare_without_recomputing(tmp_path):
    root = make_folder(tmp_path / "audio")
    out = tmp_path / "out"
    prepare(folder_manifest(root), out, CONFIG)
    frames = out / "features" / "all" / "frames.f16"
    before = frames.stat().st_mtime_ns
    edits = [LabelEdit("3-2202-A", "", "blacklist"), LabelEdit("1-2200-A", "High tone", "add")]
    result = prepare(folder_manifest(root), out, CONFIG, edits=edits)
    assert frames.stat().st_mtime_ns == before
    assert result.labels is not None
    assert "3-2202-A" not in result.labels.clip_ids.tolist()
    assert result.labels.positive[result.labels.clip_ids.tolist().index("1-2200-A")].tolist() == [True, True]


def test_unknown_clip_in_edits_raises_naming_it(tmp_path):
    root = make_folder(tmp_path / "audio")
    path = write_edits(tmp_path / "e.csv", [LabelEdit("ghost", "Low tone", "add")])
    with pytest.raises(EditError, match=r"e.csv, line 2: add edit names unknown clip 'ghost'"):
        prepare(folder_manifest(root), tmp_path / "out", CONFIG, edits=read_edits(path))
    assert not (tmp_path / "out" / "features").exists()


def test_cli_applies_repeated_edits_files_in_order(tmp_path):
    root = make_folder(tmp_path / "audio")
    first = write_edits(tmp_path / "a.csv", [LabelEdit("1-2200-A", "High tone", "add")])
    second = write_edits(
        tmp_path / "b.csv",
        [LabelEdit("1-2200-A", "High tone", "remove"), LabelEdit("2-2201-A", "", "blacklist")],
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "prepare",
            "folder",
            "--root",
            str(root),
            "--out",
            str(out),
            "--set",
            r"fold_pattern=^(\d+)-",
            "--frontend-set",
            "n_mels=16",
            "--edits",
            str(first),
            "--edits",
            str(second),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "label edits" in result.output
    assert "add: 1, remove: 1, blacklist: 1" in result.output
    labels = read_labels(out / "labels.csv")
    assert labels.num_clips == 5
    row = labels.clip_ids.tolist().index("1-2200-A")
    np.testing.assert_array_equal(labels.positive[row], [True, False])
    np.testing.assert_array_equal(labels.annotated[row], [True, True])
