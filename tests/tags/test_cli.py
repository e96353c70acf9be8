from __future__ import annotations

import sys

import pytest
from tag_cases import SyntheticBackend, basis, noise_tags
from typer.testing import CliRunner

from earmark.cli import app, main
from earmark.data.table import read_labels
from earmark.metrics import read_group_map
from earmark.tags import TagMapping

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def run_main(monkeypatch, capsys, *args: object) -> str:
    monkeypatch.setattr(sys, "argv", ["earmark", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    return " ".join(capsys.readouterr().err.split())  # the console wraps long lines


@pytest.fixture
def files(tmp_path):
    tags = tmp_path / "tags.txt"
    tags.write_text(
        "\n".join(
            ["Hip-Hop", "80s metal", "rcok", "joyful", "", "😀", "[bold]rock[/bold]", "<i>sad</i>", "rock"]
        )
        + "\n"
        + "\n".join(noise_tags(300))
        + "\n",
        encoding="utf-8",
    )
    vocabulary = tmp_path / "targets.csv"
    vocabulary.write_text(
        "tag,category\nrock,genre\nmetal,genre\nhip hop,genre\nhappy,emotion\nsad,emotion\n"
        "Rock,genre\nzzkq,\n",
        encoding="utf-8",
    )
    return tags, vocabulary


def test_categorize(tmp_path, files):
    tags, _ = files
    result = invoke("tags", "categorize", tags, "--out", tmp_path / "categories.csv")
    assert result.exit_code == 0, result.output
    assert "genre" in result.output
    assert "junk/problem" in result.output
    assert "empty" in result.output  # problems are listed
    lines = (tmp_path / "categories.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("Hip-Hop,hip hop,genre,exact")


def test_collapse_lookup_and_to_labels(tmp_path, files):
    tags, vocabulary = files
    mapping_path = tmp_path / "mapping.csv"
    summary_path = tmp_path / "summary.md"
    result = invoke(
        "tags", "collapse", tags, "--vocabulary", vocabulary, "--method", "rules",
        "--out", mapping_path, "--summary", summary_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "per target" in result.output
    assert "duplicates 'rock'" in result.output  # the vocabulary warning
    mapping = TagMapping.read_csv(mapping_path)
    assert mapping.row_of("80s metal").target == "metal"
    assert "&lt;i&gt;sad&lt;/i&gt;" not in summary_path.read_text(
        encoding="utf-8"
    )  # tags are not listed there
    assert summary_path.read_text(encoding="utf-8").startswith("# Tag mapping summary")

    result = invoke("tags", "lookup", "rock", "--mapping", mapping_path)
    assert result.exit_code == 0, result.output
    assert "rcok" in result.output
    assert "jaro-winkler" in result.output
    assert "[bold]rock[/bold]" in result.output  # rich markup in a tag is shown, not applied

    clips = tmp_path / "clips.csv"
    clips.write_text(
        "clip_id,tag,path\nc1,Hip-Hop,c1.wav\nc1,rcok,c1.wav\nc2,80s metal,c2.wav\nc3,zzz,c3.wav\n"
    )
    out = tmp_path / "labels.csv"
    result = invoke(
        "tags",
        "to-labels",
        clips,
        "--mapping",
        mapping_path,
        "--out",
        out,
        "--prepare-table",
        tmp_path / "prepare.csv",
    )
    assert result.exit_code == 0, result.output
    labels = read_labels(out)
    assert labels.clip_ids.tolist() == ["c1", "c2"]
    assert set(labels.class_names) == {"rock", "metal", "hip hop", "sad"}
    assert read_group_map(tmp_path / "labels.groups.csv")["metal"] == "genre"
    assert (tmp_path / "prepare.classes.txt").is_file()
    result = invoke("info", out)  # earmark's own tools read the table
    assert result.exit_code == 0, result.output


def test_collapse_with_embeddings_uses_the_backend(tmp_path, files, monkeypatch):
    tags, vocabulary = files
    backend = SyntheticBackend({"happy": basis(32, (0, 1.0)), "joyful": basis(32, (0, 1.0), (2, 0.1))})
    monkeypatch.setattr("earmark.cli.tags_cmd.make_backend", lambda *a, **k: backend)
    mapping_path = tmp_path / "mapping.csv"
    result = invoke(
        "tags",
        "collapse",
        tags,
        "--vocabulary",
        vocabulary,
        "--out",
        mapping_path,
        "--cache-dir",
        tmp_path / "cache",
    )
    assert result.exit_code == 0, result.output
    row = TagMapping.read_csv(mapping_path).row_of("joyful")
    assert (row.target, row.stage, row.rule) == ("happy", "embedding", "percentile")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    result = invoke("tags", "lookup", "happy", "--mapping", mapping_path, "--stage", "embedding", "--json")
    assert result.exit_code == 0, result.output
    assert '"tag": "joyful"' in result.output


def test_the_margin_rule_from_the_command_line(tmp_path, files, monkeypatch):
    # "amorous" is near "happy" (cosine 0.45) but under its 0.1 % percentile: only --rule margin maps it
    _, vocabulary = files
    tags = tmp_path / "near.txt"
    tags.write_text("\n".join(["amorous", *noise_tags(300)]) + "\n", encoding="utf-8")
    backend = SyntheticBackend({"happy": basis(32, (0, 1.0)), "amorous": basis(32, (0, 1.0), (2, 2.0))})
    monkeypatch.setattr("earmark.cli.tags_cmd.make_backend", lambda *a, **k: backend)
    mapping_path = tmp_path / "mapping.csv"
    args = ["tags", "collapse", tags, "--vocabulary", vocabulary, "--out", mapping_path, "--no-cache"]
    args += ["--fit-sample", "0"]
    found = {}
    for rule in ("percentile", "margin", "both"):
        result = invoke(*args, "--rule", rule, "--margin", "0.2", "--min-similarity", "0.4")
        assert result.exit_code == 0, result.output
        row = TagMapping.read_csv(mapping_path).row_of("amorous")
        found[rule] = (row.target, row.rule)
    assert found == {
        "percentile": ("", "no match"), "margin": ("happy", "margin"), "both": ("happy", "margin"),
    }  # fmt: skip
    for settings in (("0.2", "0.5"), ("0.5", "0.4")):  # under --min-similarity; too small a lead
        result = invoke(*args, "--rule", "margin", "--margin", settings[0], "--min-similarity", settings[1])
        assert result.exit_code == 0, result.output
        assert TagMapping.read_csv(mapping_path).row_of("amorous").target == "", settings


def test_missing_embed_extra_is_a_clear_error(monkeypatch, capsys, files, tmp_path):
    tags, vocabulary = files
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    # an ONNX file exported by an earlier run (in the user's cache) would embed without the extra
    monkeypatch.setenv("EARMARK_CACHE", str(tmp_path / "user-cache"))
    err = run_main(
        monkeypatch,
        capsys,
        "tags",
        "collapse",
        tags,
        "--vocabulary",
        vocabulary,
        "--out",
        tmp_path / "m.csv",
        "--no-cache",
    )
    assert "pip install 'earmark[embed]'" in err


def test_user_errors_print_one_line(monkeypatch, capsys, files, tmp_path):
    tags, vocabulary = files
    err = run_main(
        monkeypatch, capsys, "tags", "collapse", tags, "--vocabulary", vocabulary, "--method", "fuzzy"
    )
    assert "unknown method 'fuzzy'" in err
    err = run_main(monkeypatch, capsys, "tags", "collapse", tmp_path / "nope.txt", "--vocabulary", vocabulary)
    assert "tag list not found" in err
    mapping_path = tmp_path / "mapping.csv"
    assert (
        invoke(
            "tags", "collapse", tags, "--vocabulary", vocabulary, "--method", "rules", "--out", mapping_path
        ).exit_code
        == 0
    )
    err = run_main(monkeypatch, capsys, "tags", "lookup", "rokc", "--mapping", mapping_path)
    assert "did you mean 'rock'" in err
    err = run_main(monkeypatch, capsys, "tags", "lookup", "[red]x[/red]", "--mapping", mapping_path)
    assert "'[red]x[/red]' is not a target" in err
    err = run_main(monkeypatch, capsys, "tags", "lookup", "rock", "--mapping", mapping_path, "--limit", "-1")
    assert "--limit must be >= 0, got -1" in err


def test_collapse_multi_lexicon_and_negation_from_the_command_line(tmp_path, files, monkeypatch, capsys):
    _, vocabulary = files
    tags = tmp_path / "second.txt"
    tags.write_text("80s metal\nnot metal\ngrunge\nunhappy\n", encoding="utf-8")
    mapping_path = tmp_path / "mapping.csv"
    args = ["tags", "collapse", tags, "--vocabulary", vocabulary, "--out", mapping_path, "--method", "rules"]
    result = invoke(*args, "--multi", "--lexicon", "builtin")
    assert result.exit_code == 0, result.output
    mapping = TagMapping.read_csv(mapping_path)
    assert [r.target for r in mapping.rows_of("80s metal")] == ["metal"]  # 80s is no target here
    assert [r.target for r in mapping.rows_of("grunge")] == ["rock"]  # alternative rock is none either
    for tag in ("not metal", "unhappy"):
        (row,) = mapping.rows_of(tag)
        assert (row.target, row.stage, row.rule) == ("", "none", "negated")
        assert "negated" in row.problems
    message = run_main(monkeypatch, capsys, *args, "--rule", "nearest")
    assert "unknown decision rule 'nearest'" in message
    message = run_main(monkeypatch, capsys, *args, "--margin", "3")
    assert "--margin" in message
