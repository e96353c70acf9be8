from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from earmark.cli import app
from earmark.config import ConfigError
from earmark.testing import write_broken_files, write_tone

runner = CliRunner()


def make_folder(root: Path) -> Path:
    for c, name in enumerate(["001 - Low", "002 - High"]):
        for i in range(3):
            write_tone(
                root / name / f"{i + 1}-{c}{i}-A.wav",
                frequency_hz=300.0 * (c + 1),
                duration_seconds=0.4,
            )
    return root


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_prepare_info_and_default_config(tmp_path):
    root = make_folder(tmp_path / "audio")
    result = invoke(
        "prepare",
        "folder",
        "--root",
        root,
        "--out",
        tmp_path / "out",
        "--set",
        r"fold_pattern=^(\d+)-",
        "--frontend-set",
        "n_mels=32",
    )
    assert result.exit_code == 0, result.output
    assert "6" in result.output
    assert "1, 2, 3" in result.output
    info = invoke("info", tmp_path / "out", "--classes")
    assert info.exit_code == 0, info.output
    assert "32 values" in info.output
    assert "Low" in info.output
    assert "High" in info.output
    assert invoke("info", tmp_path / "out" / "labels.csv").exit_code == 0
    assert invoke("info", tmp_path / "out" / "features" / "all").exit_code == 0

    config = tmp_path / "prepare.yaml"
    assert invoke("write-default-config", config).exit_code == 0
    text = config.read_text().replace("path/to/audio", str(root)).replace("n_mels: 64", "n_mels: 16")
    config.write_text(text)
    again = invoke("prepare", "folder", "--config", config, "--out", tmp_path / "out2")
    assert again.exit_code == 0, again.output
    assert "16 values" in invoke("info", tmp_path / "out2").output
    exists = invoke("write-default-config", config)
    assert isinstance(exists.exception, ConfigError)


def test_sharded_prepare_then_merge(tmp_path):
    root = make_folder(tmp_path / "audio")
    first = invoke("prepare", "folder", "--root", root, "--out", tmp_path / "out", "--shard", "0/2")
    assert first.exit_code == 0, first.output
    assert "the last shard to finish merges" in " ".join(first.output.split())
    last = invoke("prepare", "folder", "--root", root, "--out", tmp_path / "out", "--shard", "1/2")
    assert last.exit_code == 0, last.output
    assert "all: 6" in last.output  # the last shard merged them all
    merged = invoke("merge-shards", "--out", tmp_path / "out")  # and merging again changes nothing
    assert merged.exit_code == 0, merged.output
    assert "all: 6" in merged.output


def test_skip_is_counted_in_the_summary(tmp_path):
    root = make_folder(tmp_path / "audio")
    write_broken_files(tmp_path / "broken")["corrupt"].rename(root / "001 - Low" / "4-999-A.wav")
    failed = invoke("prepare", "folder", "--root", root, "--out", tmp_path / "a")
    assert failed.exit_code != 0
    assert "4-999-A.wav" in str(failed.exception)
    result = invoke("prepare", "folder", "--root", root, "--out", tmp_path / "b", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert "1 (see skipped.csv)" in result.output
    assert "4-999-A" in (tmp_path / "b" / "skipped.csv").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prepare", "nolayout", "--out", "x"], "unknown layout 'nolayout'"),
        (
            ["prepare", "folder", "--out", "x", "--set", "rooot=1"],
            "unknown config key folder.rooot",
        ),
        (["prepare", "folder", "--out", "x", "--root", "/nonexistent/place"], "not a directory"),
        (
            ["prepare", "folder", "--out", "x", "--root", ".", "--on-error", "ignore"],
            "on_error must be one of",
        ),
        (
            ["prepare", "folder", "--out", "x", "--root", ".", "--frontend-set", "name=mfcc"],
            "unknown front-end",
        ),
        (["info", "/nonexistent/place"], "neither a prepared directory"),
        (["prepare", "openmic", "--out", "x", "--root", "."], "layout 'openmic' has no 'root' option"),
        (["write-default-config", "-", "--kind", "nothing"], "unknown config kind"),
    ],
)
def test_bad_input_names_what_is_wrong(args, message):
    result = invoke(*args)
    assert result.exit_code != 0
    assert isinstance(result.exception, ValueError), result.output
    assert message in str(result.exception)


def test_main_prints_one_line_errors(tmp_path, capsys, monkeypatch):
    import sys

    from earmark.cli import main

    monkeypatch.setattr(sys, "argv", ["earmark", "prepare", "nolayout", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    assert "unknown layout 'nolayout'" in capsys.readouterr().err


def test_real_esc10_prepare_and_info(shared_data, tmp_path):
    result = invoke(
        "prepare",
        "folder",
        "--root",
        shared_data / "esc10" / "audio",
        "--out",
        tmp_path / "esc10",
        "--set",
        r"fold_pattern=^(\d+)-",
    )
    assert result.exit_code == 0, result.output
    info = invoke("info", tmp_path / "esc10")
    assert info.exit_code == 0
    for expected in ("400", "10", "1, 2, 3, 4, 5"):
        assert expected in info.output


def test_real_esc50_fold4_prepare_and_info(shared_data, tmp_path):
    root = shared_data / "esc50_fold4"
    result = invoke(
        "prepare",
        "esc50",
        "--root",
        root / "audio",
        "--set",
        f"metadata={root / 'esc50.csv'}",
        "--out",
        tmp_path / "esc50",
    )
    assert result.exit_code == 0, result.output
    from earmark.data.table import read_labels

    labels = read_labels(tmp_path / "esc50" / "labels.csv")
    assert labels.num_clips == 414
    assert labels.num_classes == 50
    info = invoke("info", tmp_path / "esc50")
    assert "414" in info.output
    assert "50" in info.output
