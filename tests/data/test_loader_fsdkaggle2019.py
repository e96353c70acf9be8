from __future__ import annotations

from pathlib import Path

import pytest

from earmark.config import ConfigError
from earmark.data.labels import LabelError
from earmark.data.loaders import load_dataset

CURATED = 'fname,labels\n0006ae4e.wav,Bark\n0019ef41.wav,"Raindrop,Walk_and_footsteps"\n'
NOISY = "fname,labels\n00097e21.wav,Motorcycle\n000b6cfb.wav,Bark\n"


def write_labels(folder: Path, curated: str | None = CURATED, noisy: str | None = NOISY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if curated is not None:
        (folder / "train_curated.csv").write_text(curated)
    if noisy is not None:
        (folder / "train_noisy.csv").write_text(noisy)
    return folder


def test_curated_and_noisy_become_sources_and_splits(tmp_path):
    root = write_labels(tmp_path)
    manifest = load_dataset("fsdkaggle2019", {"root": str(root)})
    labels = manifest.labels
    assert labels.clip_ids.tolist() == ["0006ae4e", "0019ef41", "00097e21", "000b6cfb"]
    assert labels.class_names == ("Bark", "Motorcycle", "Raindrop", "Walk_and_footsteps")
    assert labels.source.tolist() == ["curated", "curated", "noisy", "noisy"]
    assert manifest.splits.tolist() == ["curated", "curated", "noisy", "noisy"]
    assert labels.positive.tolist()[1] == [False, False, True, True]
    assert labels.annotated.all()
    # labels only: the paths follow the Kaggle layout under root and are not checked
    assert manifest.audio_paths[0] == str(root / "train_curated" / "0006ae4e.wav")
    assert manifest.audio_paths[3] == str(root / "train_noisy" / "000b6cfb.wav")
    assert len(manifest.check_files()) == 4


def test_include_only_one_part(tmp_path):
    root = write_labels(tmp_path, noisy=None)
    manifest = load_dataset("fsdkaggle2019", {"root": str(root), "include": ["curated"]})
    assert manifest.labels.num_clips == 2
    with pytest.raises(LabelError, match=r"FSDKaggle2019 noisy label file not found: .*train_noisy\.csv"):
        load_dataset("fsdkaggle2019", {"root": str(root)})
    with pytest.raises(ConfigError, match=r"include: 'test' is not a part"):
        load_dataset("fsdkaggle2019", {"root": str(root), "include": ["test"]})


def test_audio_root_is_checked(tmp_path):
    root = write_labels(tmp_path / "labels")
    audio = tmp_path / "audio"
    for sub, names in (
        ("train_curated", ["0006ae4e", "0019ef41"]),
        ("train_noisy", ["00097e21", "000b6cfb"]),
    ):
        (audio / sub).mkdir(parents=True)
        for name in names:
            (audio / sub / f"{name}.wav").write_bytes(b"RIFF")
    manifest = load_dataset("fsdkaggle2019", {"root": str(root), "audio_root": str(audio)})
    assert manifest.check_files() == []
    (audio / "train_noisy" / "000b6cfb.wav").unlink()
    with pytest.raises(LabelError, match=r"no audio for clip '000b6cfb' \(.*train_noisy\.csv, line 3\)"):
        load_dataset("fsdkaggle2019", {"root": str(root), "audio_root": str(audio)})


def test_vocabulary_file(tmp_path):
    root = write_labels(tmp_path)
    vocabulary = tmp_path / "classes.txt"
    vocabulary.write_text("Bark\nMotorcycle\nRaindrop\nWalk_and_footsteps\nAccordion\n")
    labels = load_dataset("fsdkaggle2019", {"root": str(root), "classes": str(vocabulary)}).labels
    assert labels.class_names[-1] == "Accordion"
    assert not labels.positive[:, -1].any()
    vocabulary.write_text("Bark\nMotorcycle\nRaindrop\n")
    with pytest.raises(
        LabelError, match=r"train_curated\.csv, line 3: clip '0019ef41' has label 'Walk_and_footsteps'"
    ):
        load_dataset("fsdkaggle2019", {"root": str(root), "classes": str(vocabulary)})


@pytest.mark.parametrize(
    ("curated", "message"),
    [
        ("fname,label\n0006ae4e.wav,Bark\n", r"train_curated\.csv: .* has no column 'labels'"),
        ("labels,fname\nBark,0006ae4e.wav\n", r"expected the header 'fname,labels'"),
        ("fname,labels\n0006ae4e.wav,Bark\n0006ae4e.wav,Bark\n", r"line 3: clip '0006ae4e' is listed twice"),
        ("fname,labels\n0006ae4e.wav,\n", r"line 2: clip '0006ae4e' has no labels"),
        ("fname,labels\n0006ae4e.wav,Bark,Walk_and_footsteps\n", r"line 2: 3 cells for 2 columns"),
    ],
)
def test_bad_label_files_raise(tmp_path, curated, message):
    root = write_labels(tmp_path, curated=curated)
    with pytest.raises(LabelError, match=message):
        load_dataset("fsdkaggle2019", {"root": str(root)})


def test_clip_in_both_files_raises(tmp_path):
    root = write_labels(tmp_path, noisy="fname,labels\n0006ae4e.wav,Bark\n")
    with pytest.raises(
        LabelError, match=r"train_noisy\.csv, line 2: clip '0006ae4e' is also listed in .*train_curated"
    ):
        load_dataset("fsdkaggle2019", {"root": str(root)})


# ----------------------------------------------------------------- real data
def test_real_fsdkaggle2019_labels(shared_data):
    root = shared_data / "fsdkaggle2019_labels"
    manifest = load_dataset("fsdkaggle2019", {"root": str(root)})
    labels = manifest.labels
    assert labels.summary().clips_per_source == {"curated": 4970, "noisy": 19815}
    assert labels.num_classes == 80
    assert manifest.split_names == ["curated", "noisy"]
    assert labels.annotated.all()
    assert (labels.positive.sum(axis=1) >= 1).all()
    assert labels.positive.sum(axis=1).max() > 1  # multi-label
    assert "Bathtub_(filling_or_washing)" in labels.class_names
    curated = load_dataset("fsdkaggle2019", {"root": str(root), "include": ["curated"]}).labels
    assert curated.num_clips == 4970
    assert curated.num_classes == 80
