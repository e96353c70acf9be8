"""``earmark merge``: label tables and prepared directories over the union of their classes, with
an alias map; a sharded prepare merges itself when its last shard finishes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import earmark
from earmark.cli import app
from earmark.data.labels import Labels
from earmark.data.table import read_labels, write_labels
from earmark.features.store import FeatureStore
from earmark.merge import MergeError, apply_aliases, merge_shards_when_complete, read_aliases
from earmark.testing import write_tone

runner = CliRunner()


def invoke(*args: object) -> str:
    result = runner.invoke(app, [*map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines


def test_label_tables_merge_over_the_union_with_aliases(tmp_path):
    first = Labels.from_lists(["a1", "a2"], [["Dog bark"], ["Rain"]], ("Dog bark", "Rain"))
    second = Labels.from_lists(["b1"], [["dog", "siren"]], ("dog", "siren"))
    write_labels(first, tmp_path / "a.csv")
    write_labels(second, tmp_path / "b.csv")
    (tmp_path / "aliases.csv").write_text("alias,class\nDog bark,dog\n")
    said = invoke("merge", tmp_path / "a.csv", tmp_path / "b.csv", "--out", tmp_path / "m.csv",
                  "--aliases", tmp_path / "aliases.csv")  # fmt: skip
    assert "3 clips, 3 classes" in said
    merged = read_labels(tmp_path / "m.csv")
    assert merged.class_names == ("dog", "Rain", "siren")
    assert merged.positive.tolist() == [[True, False, False], [False, True, False], [True, False, True]]
    # a class outside a table's vocabulary is missing there, not negative
    assert merged.annotated.tolist() == [[True, True, False], [True, True, False], [True, False, True]]
    with pytest.raises(MergeError, match=r"clip 'a1' is in both .*a\.csv and .*a\.csv"):
        invoke("merge", tmp_path / "a.csv", tmp_path / "a.csv", "--out", tmp_path / "x.csv")


def test_aliases_that_join_two_classes_of_one_table_combine_them(tmp_path):
    labels = Labels.from_lists(["c1", "c2"], [["dog"], ["Dog"]], ("dog", "Dog", "cat"))
    joined = apply_aliases(labels, {"Dog": "dog"})
    assert joined.class_names == ("dog", "cat")
    assert joined.positive[:, 0].tolist() == [True, True]
    yaml_map = tmp_path / "aliases.yaml"
    yaml_map.write_text("Dog bark: dog\nDog: dog\n")
    assert read_aliases(yaml_map) == {"Dog bark": "dog", "Dog": "dog"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b,c\n", "row 1 must be two non-empty cells"),
        ("x,dog\nx,cat\n", "maps to both 'dog' and 'cat'"),
        ("x,y\ny,z\n", "'y' is both an alias and a target"),
    ],
)
def test_bad_alias_maps_are_named(tmp_path, content, message):
    path = tmp_path / "aliases.csv"
    path.write_text(content)
    with pytest.raises(MergeError, match=message):
        read_aliases(path)


def tone_folder(root: Path, classes: dict[str, float], prefix: str) -> Path:
    for name, hz in classes.items():
        for take in range(2):
            write_tone(
                root / name / f"{prefix}{take}-{name}.wav",
                frequency_hz=hz * (1 + take / 10),
                duration_seconds=0.5,
            )
    return root


def prepare_tones(directory: Path, classes: dict[str, float], prefix: str, n_mels: int = 16) -> Path:
    root = tone_folder(directory.with_name(directory.name + "-audio"), classes, prefix)
    earmark.prepare("folder", directory, {"name": "logmel", "n_mels": n_mels}, options={"root": str(root)})
    return directory


def test_prepared_directories_merge_and_train(tmp_path):
    first = prepare_tones(tmp_path / "pa", {"low": 200.0, "mid": 800.0}, "1-")
    second = prepare_tones(tmp_path / "pb", {"middle": 800.0, "high": 3000.0}, "2-")
    (tmp_path / "aliases.json").write_text('{"middle": "mid"}')
    invoke("merge", first, second, "--out", tmp_path / "merged", "--aliases", tmp_path / "aliases.json")
    merged = read_labels(tmp_path / "merged" / "labels.csv")
    assert merged.class_names == ("low", "mid", "high")
    assert merged.num_clips == 8
    store = FeatureStore(tmp_path / "merged" / "features" / "all")
    assert sorted(store.clip_ids.tolist()) == sorted(merged.clip_ids.tolist())
    original = FeatureStore(first / "features" / "all")
    clip = original.clip_ids.tolist()[0]
    np.testing.assert_array_equal(np.asarray(store[clip]), np.asarray(original[clip]))
    assert "merged" in invoke("info", tmp_path / "merged")
    recipe = {
        "data": {"prepared": str(tmp_path / "merged")},
        "model": "cnn",
        "model_options": {"channels": [4], "width_multiplier": 1.0},
        "segment_frames": 8,
        "batch_size": 4,
        "epochs": 1,
        "report": False,
    }
    assert earmark.train(recipe, tmp_path / "run")["clips"]["train"] == 8
    other = prepare_tones(tmp_path / "pc", {"other": 500.0}, "3-", n_mels=32)
    with pytest.raises(MergeError, match="other front-ends"):
        invoke("merge", first, other, "--out", tmp_path / "bad")


def test_a_sharded_prepare_merges_when_its_last_shard_finishes(tmp_path):
    root = tone_folder(tmp_path / "audio", {"low": 200.0, "high": 3000.0}, "1-")
    options = {"root": str(root)}
    first = earmark.prepare(
        "folder", tmp_path / "p", {"name": "logmel", "n_mels": 16}, options=options, shard=(0, 2)
    )
    assert not first.finished
    assert merge_shards_when_complete(tmp_path / "p") is None  # shard 1 of 2 is not done
    earmark.prepare("folder", tmp_path / "p", {"name": "logmel", "n_mels": 16}, options=options, shard=(1, 2))
    result = merge_shards_when_complete(tmp_path / "p")
    assert result is not None
    assert result.finished
    assert len(FeatureStore(tmp_path / "p" / "features" / "all")) == 4
    assert not (tmp_path / "p" / ".merging").exists()
