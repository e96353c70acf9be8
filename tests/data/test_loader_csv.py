from __future__ import annotations

from pathlib import Path

import pytest

from earmark.config import ConfigError
from earmark.data.labels import LabelError
from earmark.data.loaders import load_dataset


def write_table(tmp_path: Path, text: str) -> str:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return str(path)


TABLE = (
    "path,labels,source,fold\n"
    'a/one.wav,"dog,rain",curated,1\n'
    "b/two.flac,rain,noisy,2\n"
    "three.wav,,curated,\n"
    "four.ogg,,unlabeled,3\n"
)


def test_complete_annotation_with_sources_and_folds(tmp_path):
    manifest = load_dataset("csv", {"table": write_table(tmp_path, TABLE), "split": "train"})
    labels = manifest.labels
    assert labels.clip_ids.tolist() == ["a/one", "b/two", "three", "four"]
    assert labels.class_names == ("dog", "rain")
    assert labels.positive.tolist() == [[True, True], [False, True], [False, False], [False, False]]
    # complete annotation, except the unlabeled clip which has nothing annotated
    assert labels.annotated.tolist() == [[True, True], [True, True], [True, True], [False, False]]
    assert labels.source.tolist() == ["curated", "noisy", "curated", "unlabeled"]
    assert labels.fold.tolist() == [1, 2, -1, 3]
    assert manifest.audio_paths[0] == str(tmp_path / "a" / "one.wav")
    assert manifest.split_names == ["train"]


def test_positives_only_semicolons_and_audio_root(tmp_path):
    table = write_table(tmp_path, "path,labels\nx.wav,y;; \nclip.v2.wav,y; z\n")
    options = {"table": table, "separator": ";", "annotation": "positives_only", "audio_root": "/data/audio"}
    manifest = load_dataset("csv", options)
    labels = manifest.labels
    assert labels.clip_ids.tolist() == ["x", "clip.v2"]
    assert labels.class_names == ("y", "z")
    assert labels.annotated.tolist() == labels.positive.tolist() == [[True, False], [True, True]]
    assert labels.source.tolist() == ["curated", "curated"]
    assert manifest.audio_paths.tolist() == ["/data/audio/x.wav", "/data/audio/clip.v2.wav"]


def test_clip_ids_are_paths_relative_to_the_data_root(tmp_path):
    table = write_table(tmp_path, f"path,labels\n{tmp_path}/sub/a.wav,dog\nsub/../c/b.wav,dog\n")
    labels = load_dataset("csv", {"table": table}).labels
    assert labels.clip_ids.tolist() == ["sub/a", "c/b"]
    # ids are relative to the data root the user gives, whatever the CSV's folder
    other = write_table(tmp_path, f"path,labels\n{tmp_path}/sub/a.wav,dog\n../c/b.wav,dog\n")
    with pytest.raises(LabelError, match=r"line 3: path '../c/b.wav' is outside the data root"):
        load_dataset("csv", {"table": other})
    inner = write_table(tmp_path, f"path,labels\n{tmp_path}/sub/a.wav,dog\nc/b.wav,dog\n")
    labels = load_dataset("csv", {"table": inner, "audio_root": str(tmp_path / "sub")}).labels
    assert labels.clip_ids.tolist() == ["a", "c/b"]


def test_a_path_outside_the_data_root_is_refused_unless_ids_come_from_a_column(tmp_path):
    text = f"path,labels,key\n{tmp_path}/sub/a.wav,dog,k1\n/elsewhere/b.wav,dog,k2\n"
    with pytest.raises(
        LabelError, match=r"line 3: path '/elsewhere/b.wav' is outside the data root .*id_from"
    ):
        load_dataset("csv", {"table": write_table(tmp_path, text)})
    manifest = load_dataset("csv", {"table": write_table(tmp_path, text), "id_from": "key"})
    assert manifest.labels.clip_ids.tolist() == ["k1", "k2"]
    assert manifest.audio_paths.tolist() == [f"{tmp_path}/sub/a.wav", "/elsewhere/b.wav"]
    twice = "path,labels,key\na.wav,dog,k1\nb.wav,dog,k1\n"
    with pytest.raises(LabelError, match=r"line 3: clip 'k1' \(path 'b.wav'\) is also on line 2"):
        load_dataset("csv", {"table": write_table(tmp_path, twice), "id_from": "key"})
    with pytest.raises(LabelError, match=r"has no column 'clip'"):
        load_dataset("csv", {"table": write_table(tmp_path, twice), "id_from": "clip"})
    with pytest.raises(LabelError, match=r"line 2: empty clip id in column 'key'"):
        load_dataset(
            "csv", {"table": write_table(tmp_path, "path,labels,key\na.wav,dog,\n"), "id_from": "key"}
        )


@pytest.mark.parametrize("joiner", [";", "|"])
def test_a_likely_separator_without_a_configured_one_names_the_row(tmp_path, joiner):
    text = f"path,labels\na.wav,cello\nb.wav,cello{joiner}bass clarinet\n"
    with pytest.raises(LabelError, match=rf"line 3: label 'cello\{joiner}bass clarinet' holds '\{joiner}'"):
        load_dataset("csv", {"table": write_table(tmp_path, text)})
    split = load_dataset("csv", {"table": write_table(tmp_path, text), "separator": joiner}).labels
    assert split.class_names == ("bass clarinet", "cello")
    whole = load_dataset("csv", {"table": write_table(tmp_path, text), "separator": ","}).labels
    assert whole.class_names == ("cello", f"cello{joiner}bass clarinet")


def test_vocabulary_file(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("# the vocabulary\nwind\ndog\nrain\n")
    labels = load_dataset("csv", {"table": write_table(tmp_path, TABLE), "classes": str(classes)}).labels
    assert labels.class_names == ("wind", "dog", "rain")
    classes.write_text("dog\n")
    with pytest.raises(
        LabelError, match=r"labels\.csv, line 2: clip 'a/one' has label 'rain', which is not in"
    ):
        load_dataset("csv", {"table": write_table(tmp_path, TABLE), "classes": str(classes)})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,labels\na.wav,dog\n", r"label table has no column 'path'"),
        ("path,tags\na.wav,dog\n", r"label table has no column 'labels'"),
        (
            "path,labels,source\na.wav,dog,weak\n",
            r"line 2: unknown source 'weak'; valid sources: curated, noisy",
        ),
        (
            "path,labels\na.wav,dog\nb.wav,dog\na.wav,rain\n",
            r"line 4: clip 'a' \(path 'a.wav'\) is also on line 2",
        ),
        ("path,labels\na.wav,dog\na.flac,dog\n", r"line 3: clip 'a' .* is also on line 2"),
        ("path,labels,source\na.wav,dog,unlabeled\n", r"line 2: clip 'a' is unlabeled but lists labels dog"),
        ("path,labels,fold\na.wav,dog,first\n", r"line 2: column 'fold' holds 'first'"),
        ("path,labels\n,dog\n", r"line 2: empty path"),
        ("path,labels\na.wav,dog,rain\n", r"line 2: 3 cells for 2 columns"),
        ("path,labels\na.wav,\n", r"no row lists a label"),
        ("path,labels\n", r"the label table has no rows"),
    ],
)
def test_bad_tables_raise(tmp_path, text, message):
    with pytest.raises(LabelError, match=message):
        load_dataset("csv", {"table": write_table(tmp_path, text)})


def test_bad_options(tmp_path):
    with pytest.raises(ConfigError, match=r"separator must be a non-blank string"):
        load_dataset("csv", {"table": write_table(tmp_path, TABLE), "separator": " "})
    with pytest.raises(ConfigError, match=r"annotation must be one of"):
        load_dataset("csv", {"table": write_table(tmp_path, TABLE), "annotation": "partial"})
    with pytest.raises(LabelError, match=r"label table not found: .*absent\.csv"):
        load_dataset("csv", {"table": str(tmp_path / "absent.csv")})
