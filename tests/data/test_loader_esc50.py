from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from earmark.data.labels import LabelError
from earmark.data.loaders import load_dataset
from earmark.testing import write_tone

HEADER = "filename,fold,target,category,esc10,src_file,take\n"


def write_small(tmp_path: Path, rows: list[str], audio: list[str]) -> tuple[Path, Path]:
    root = tmp_path / "audio"
    root.mkdir()
    for name in audio:
        write_tone(root / name, duration_seconds=0.05, sample_rate=8000)
    metadata = tmp_path / "esc50.csv"
    metadata.write_text(HEADER + "".join(r + "\n" for r in rows))
    return root, metadata


ROWS = [
    "1-100-A-0.wav,1,0,dog,True,100,A",
    "2-200-A-1.wav,2,1,rooster,False,200,A",
    "3-300-B-0.wav,3,0,dog,True,300,B",
    "4-400-A-2.wav,4,2,pig,False,400,A",
]


def test_small_metadata_matches_by_stem_and_keeps_the_whole_vocabulary(tmp_path):
    # the metadata says .wav, the audio is .flac; pig has no audio but stays in the vocabulary
    root, metadata = write_small(tmp_path, ROWS, ["1-100-A-0.flac", "2-200-A-1.flac", "3-300-B-0.wav"])
    manifest = load_dataset("esc50", {"root": str(root), "metadata": str(metadata)})
    labels = manifest.labels
    assert labels.class_names == ("dog", "rooster", "pig")
    assert labels.clip_ids.tolist() == ["1-100-A-0", "2-200-A-1", "3-300-B-0"]
    assert labels.fold.tolist() == [1, 2, 3]
    assert labels.positive.tolist() == [[True, False, False], [False, True, False], [True, False, False]]
    assert labels.annotated.all()
    assert [Path(p).suffix for p in manifest.audio_paths] == [".flac", ".flac", ".wav"]
    assert manifest.check_files() == []


def test_esc10_only_narrows_rows_and_vocabulary(tmp_path):
    root, metadata = write_small(tmp_path, ROWS, ["1-100-A-0.flac", "2-200-A-1.flac", "3-300-B-0.wav"])
    manifest = load_dataset("esc50", {"root": str(root), "metadata": str(metadata), "esc10_only": True})
    assert manifest.labels.class_names == ("dog",)
    assert manifest.labels.clip_ids.tolist() == ["1-100-A-0", "3-300-B-0"]


def test_missing_audio_can_be_an_error(tmp_path):
    root, metadata = write_small(tmp_path, ROWS, ["1-100-A-0.flac"])
    options = {"root": str(root), "metadata": str(metadata), "on_missing_audio": "error"}
    with pytest.raises(LabelError, match=r"no audio for clip '2-200-A-1' \(line 3.*3 of 4 rows"):
        load_dataset("esc50", options)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["1-100-A-0.wav,one,0,dog,True,100,A"], r"line 2: column 'fold' holds 'one'"),
        (
            ["1-100-A-0.wav,1,0,dog,True,100,A", "1-101-A-0.wav,1,0,cat,True,101,A"],
            r"line 3: target 0 is 'cat'",
        ),
        (
            ["1-100-A-0.wav,1,0,dog,True,100,A", "1-100-A-0.wav,1,0,dog,True,100,A"],
            r"'1-100-A-0' is listed twice",
        ),
        (["1-100-A-0.wav,1,0,dog,maybe,100,A"], r"column 'esc10' holds 'maybe'"),
        (["1-100-A-0.wav,1,0,dog,True,100"], r"line 2: 6 cells for 7 columns"),
    ],
)
def test_bad_metadata_rows_raise_naming_the_line(tmp_path, rows, message):
    root, metadata = write_small(tmp_path, rows, ["1-100-A-0.flac"])
    with pytest.raises(LabelError, match=message):
        load_dataset("esc50", {"root": str(root), "metadata": str(metadata)})


def test_missing_column_and_missing_files_raise(tmp_path):
    root, metadata = write_small(tmp_path, [], [])
    metadata.write_text("filename,fold,category,esc10\n1-100-A-0.wav,1,dog,True\n")
    with pytest.raises(LabelError, match=r"has no column 'target'"):
        load_dataset("esc50", {"root": str(root), "metadata": str(metadata)})
    with pytest.raises(LabelError, match=r"ESC-50 metadata not found: .*absent\.csv"):
        load_dataset("esc50", {"root": str(root), "metadata": str(tmp_path / "absent.csv")})
    with pytest.raises(LabelError, match=r"audio root .*nowhere is not a directory"):
        load_dataset("esc50", {"root": str(tmp_path / "nowhere"), "metadata": str(metadata)})


def test_no_audio_at_all_raises(tmp_path):
    root, metadata = write_small(tmp_path, ROWS, [])
    with pytest.raises(LabelError, match=r"none of the 4 clips .* has audio"):
        load_dataset("esc50", {"root": str(root), "metadata": str(metadata)})


# ----------------------------------------------------------------- real data
def test_real_esc50_fold4(shared_data):
    folder = shared_data / "esc50_fold4"
    options = {"root": str(folder / "audio"), "metadata": str(folder / "esc50.csv")}
    manifest = load_dataset("esc50", options)
    labels = manifest.labels
    assert labels.num_clips == 414
    assert labels.num_classes == 50
    assert labels.class_names[:3] == ("dog", "rooster", "pig")
    assert (labels.positive.sum(axis=1) == 1).all()
    assert labels.annotated.all()
    assert int(np.sum(labels.fold == 4)) == 400
    # the current release appends the target to each stem: it must be the labeled class
    targets = [int(c.rsplit("-", 1)[1]) for c in labels.clip_ids]
    assert targets == labels.positive.argmax(axis=1).tolist()
    assert all(p.endswith(".flac") for p in manifest.audio_paths)
    with pytest.raises(LabelError, match=r"1586 of 2000 rows have no audio"):
        load_dataset("esc50", {**options, "on_missing_audio": "error"})


def test_real_esc50_esc10_subset(shared_data):
    folder = shared_data / "esc50_fold4"
    options = {"root": str(folder / "audio"), "metadata": str(folder / "esc50.csv"), "esc10_only": True}
    labels = load_dataset("esc50", options).labels
    assert labels.num_classes == 10
    assert {"dog", "rain", "chainsaw", "crying_baby"} <= set(labels.class_names)
    assert labels.num_clips == 83
