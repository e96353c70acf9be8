"""Spreadsheet-safe CSV (issue 15): formula-like text is quoted on disk and read back unchanged.

Every CSV writer of earmark is run with hostile text in its text columns; the file is parsed with
the csv module to check that no text cell starts with a formula character, that numeric columns
hold plain numbers, and the matching reader gives the text back exactly.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from earmark.audit.table import AuditItem, read_audit, write_audit
from earmark.data.labels import Labels
from earmark.data.manifest import Manifest, read_manifest_csv, write_manifest_csv
from earmark.data.simulate import SourceClip, mix_clips
from earmark.data.table import read_labels, write_labels
from earmark.features.logmel import LogMelConfig
from earmark.io import CSV_SAFE_VARIABLE, csv_safe_enabled, escape_cell, unescape_cell
from earmark.predictions import Predictions
from earmark.prepare import PrepareError, prepare
from earmark.tags.categorize import TagCategory
from earmark.tags.io import read_overrides, read_tag_list, write_categories
from earmark.tags.mapping import MappingRow, TagMapping
from earmark.tags.normalize import NormalizedTag
from earmark.tags.to_labels import LabelResult, write_groups, write_prepare_table
from earmark.testing import write_tone
from earmark.testing.prepared import make_prepared
from earmark.tuning.outputs import TrialRow, _trials_csv
from earmark.tuning.space import SearchSpace

HOSTILE = (
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://example.invalid/x","click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "'quoted",
    "''=twice",
    "-1x",
    "=a",
)
BENIGN = ("dog", "1-100032-A-0", "a=b", "rain, heavy", "", "'", "0.5")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(autouse=True, scope="module")
def _safe_by_default() -> object:
    """The tests start from the default (on), whatever the environment says."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(CSV_SAFE_VARIABLE, raising=False)
        yield


def _rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _formula_cells(path: Path) -> list[str]:
    """Cells a spreadsheet would run as a formula: a formula start that is not a plain number."""
    return [
        cell
        for row in _rows(path)
        for cell in row
        if cell.startswith(FORMULA_STARTS) and not _is_number(cell)
    ]


# ------------------------------------------------------------------------------- the cell helper
@pytest.mark.parametrize("text", HOSTILE)
def test_formula_like_text_gets_a_quote_and_comes_back(text):
    escaped = escape_cell(text)
    assert escaped == "'" + text
    assert unescape_cell(escaped) == text


@pytest.mark.parametrize("text", ["dog", "1-100032-A-0", "a=b", "", "0.5", "clip 7"])
def test_harmless_text_is_left_alone(text):
    assert escape_cell(text) == text
    assert unescape_cell(text) == text


@pytest.mark.parametrize("typed", ["'tis", "'", "'0.5"])
def test_a_hand_written_quote_before_harmless_text_is_kept_on_reading(typed):
    assert unescape_cell(typed) == typed
    assert unescape_cell(escape_cell(typed)) == typed


@given(st.text())
def test_every_text_round_trips(text):
    assert unescape_cell(escape_cell(text)) == text
    assert not escape_cell(text).startswith(FORMULA_STARTS)


def test_the_switch_and_its_bad_values(monkeypatch):
    monkeypatch.delenv(CSV_SAFE_VARIABLE, raising=False)
    assert csv_safe_enabled()
    for off in ("0", "false", "No", "OFF"):
        monkeypatch.setenv(CSV_SAFE_VARIABLE, off)
        assert not csv_safe_enabled()
        assert escape_cell("=1+1") == "=1+1"
        assert unescape_cell("'=1+1") == "'=1+1"
    for on in ("1", "true", "yes", ""):
        monkeypatch.setenv(CSV_SAFE_VARIABLE, on)
        assert csv_safe_enabled()
        assert escape_cell("=1+1") == "'=1+1"
    monkeypatch.setenv(CSV_SAFE_VARIABLE, "maybe")
    with pytest.raises(ValueError, match=r"EARMARK_CSV_SAFE='maybe'.*1 .* or 0"):
        escape_cell("=1+1")


# ------------------------------------------------------------------------------- predictions
def _predictions() -> Predictions:
    names = (*HOSTILE[:5], "dog")
    scores = np.linspace(-1.0, 1.0, len(HOSTILE) * len(names)).reshape(len(HOSTILE), len(names))
    scores[0, 0] = -0.25
    return Predictions(np.array(HOSTILE, dtype=object), names, scores)


def test_predictions_csv_round_trips_hostile_ids_and_class_names(tmp_path):
    predictions = _predictions()
    path = predictions.write_csv(tmp_path / "p.csv")
    assert _formula_cells(path) == []
    rows = _rows(path)
    assert rows[0][1:] == ["'" + name for name in predictions.class_names[:5]] + ["dog"]
    assert rows[1][1] == "-0.25"  # a score stays a plain number
    assert all(_is_number(cell) for row in rows[1:] for cell in row[1:])
    back = Predictions.read(path)
    assert back.clip_ids.tolist() == list(HOSTILE)
    assert back.class_names == predictions.class_names
    np.testing.assert_array_equal(back.scores, predictions.scores)


def test_predictions_csv_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "saved_by_a_spreadsheet.csv"
    path.write_text("\ufeffclip_id,dog,rain\r\n'=a,0.5,-0.25\r\nb,1,0\r\n", encoding="utf-8")
    back = Predictions.read(path)
    assert back.clip_ids.tolist() == ["=a", "b"]
    assert back.class_names == ("dog", "rain")
    np.testing.assert_allclose(back.scores, [[0.5, -0.25], [1.0, 0.0]])


def test_the_off_switch_writes_raw_text_and_reads_it_back(tmp_path, monkeypatch):
    monkeypatch.setenv(CSV_SAFE_VARIABLE, "0")
    predictions = _predictions()
    path = predictions.write_csv(tmp_path / "raw.csv")
    rows = _rows(path)
    assert [row[0] for row in rows[1:]] == list(HOSTILE)
    assert rows[0][1] == HOSTILE[0]
    assert Predictions.read(path).clip_ids.tolist() == list(HOSTILE)


# ------------------------------------------------------------------------------- label tables
def _labels() -> Labels:
    names = (HOSTILE[0], "-x", "'y", "dog")
    return Labels.from_lists(
        list(HOSTILE),
        [[names[i % 4]] for i in range(len(HOSTILE))],
        names,
        annotation="positives_only",
        source="noisy",
        fold=[(-1, 1, 2)[i % 3] for i in range(len(HOSTILE))],
        duration_seconds=[0.5 + i for i in range(len(HOSTILE))],
    )


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_label_table_round_trips_hostile_ids_and_class_names(tmp_path, suffix):
    labels = _labels()
    path = write_labels(labels, tmp_path / f"labels{suffix}")
    back = read_labels(path)
    assert back.clip_ids.tolist() == list(HOSTILE)
    assert back.class_names == labels.class_names
    np.testing.assert_array_equal(back.positive, labels.positive)
    np.testing.assert_array_equal(back.annotated, labels.annotated)
    np.testing.assert_array_equal(back.fold, labels.fold)
    if suffix == ".csv":
        assert _formula_cells(path) == []
        rows = _rows(path)
        assert [row[2] for row in rows[1:]] == [str(f) for f in labels.fold.tolist()]  # -1 stays -1
        assert rows[1][0] == "'" + HOSTILE[0]


def test_label_table_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("\ufeffclip_id,source,fold,duration_seconds,dog\n'-a,curated,1,2.5,1\n", encoding="utf-8")
    back = read_labels(path)
    assert back.clip_ids.tolist() == ["-a"]
    assert back.positive.tolist() == [[True]]


# ------------------------------------------------------------------------------- manifests
def test_manifest_round_trips_hostile_ids_splits_and_paths(tmp_path):
    labels = _labels()
    paths = [f"{text}.wav" for text in HOSTILE]
    splits = [HOSTILE[i % 3] for i in range(len(HOSTILE))]
    path = write_manifest_csv(Manifest(labels, np.array(paths), np.array(splits)), tmp_path / "m.csv")
    assert _formula_cells(path) == []
    back = read_manifest_csv(path)
    assert back == {clip: (split, audio) for clip, split, audio in zip(HOSTILE, splits, paths, strict=True)}
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_manifest_csv(bom) == back


# ------------------------------------------------------------------------------- audit tables
def test_audit_table_round_trips_hostile_text_and_keeps_numbers_plain(tmp_path):
    items = [
        AuditItem(clip, HOSTILE[-1 - i], "add", -0.25 * i, i + 1, 0.5, f"{HOSTILE[i]}=0.910;dog=0.050")
        for i, clip in enumerate(HOSTILE)
    ]
    path = write_audit(items, tmp_path / "audit.csv")
    assert _formula_cells(path) == []
    rows = _rows(path)
    assert rows[2][4] == "-0.25"
    assert read_audit(path) == items
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_audit(bom) == items


# ------------------------------------------------------------------------------- tags
def _mapping_rows() -> tuple[MappingRow, ...]:
    return tuple(
        MappingRow(
            tag=text,
            normalized=HOSTILE[-1 - i],
            tag_category=HOSTILE[i],
            target=HOSTILE[(i + 1) % len(HOSTILE)],
            target_category="@genre",
            stage="rules",
            rule="-rule",
            score=0.5,
            detail="=detail",
            problems=("-problem", "other"),
        )
        for i, text in enumerate(HOSTILE)
    )


def test_mapping_round_trips_hostile_text(tmp_path):
    mapping = TagMapping(_mapping_rows())
    path = mapping.write_csv(tmp_path / "mapping.csv")
    assert _formula_cells(path) == []
    assert {row[7] for row in _rows(path)[1:]} == {"0.5000"}
    assert TagMapping.read_csv(path).rows == mapping.rows
    assert read_tag_list(path) == list(HOSTILE)  # a mapping reads as a tag list too
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert TagMapping.read_csv(bom).rows == mapping.rows


def test_categories_round_trip_as_a_tag_list(tmp_path):
    categories = [
        TagCategory(NormalizedTag(text, HOSTILE[-1 - i], ("-p",)), "=genre", "+rule", "@matched", 0.75)
        for i, text in enumerate(HOSTILE)
    ]
    path = write_categories(categories, tmp_path / "categories.csv")
    assert _formula_cells(path) == []
    rows = _rows(path)
    assert {row[5] for row in rows[1:]} == {"0.7500"}
    assert [unescape_cell(row[1]) for row in rows[1:]] == list(reversed(HOSTILE))
    assert [unescape_cell(row[6]) for row in rows[1:]] == ["-p"] * len(HOSTILE)
    assert read_tag_list(path) == list(HOSTILE)


def test_overrides_written_safe_by_hand_read_unchanged(tmp_path):
    path = tmp_path / "overrides.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tag", "target"])
        writer.writerows([escape_cell(text), escape_cell("-target")] for text in HOSTILE)
    assert read_overrides(path) == dict.fromkeys(HOSTILE, "-target")


def test_groups_and_prepare_table_are_written_safe(tmp_path):
    labels = _labels()
    groups = write_groups({name: f"={name}" for name in labels.class_names}, tmp_path / "groups.csv")
    assert _formula_cells(groups) == []
    assert [[unescape_cell(c) for c in row] for row in _rows(groups)[1:]] == [
        [name, f"={name}"] for name in labels.class_names
    ]
    result = LabelResult(labels, tuple(f"{text}.wav" for text in HOSTILE), (), {}, {}, {})
    table, _ = write_prepare_table(result, tmp_path / "prepare.csv", separator=";")
    assert _formula_cells(table) == []
    back = [[unescape_cell(c) for c in row] for row in _rows(table)[1:]]
    assert [row[0] for row in back] == [f"{text}.wav" for text in HOSTILE]
    assert [row[1] for row in back] == [
        ";".join(n for n, p in zip(labels.class_names, row, strict=True) if p) for row in labels.positive
    ]


# ------------------------------------------------------------------------------- prepare, simulate
def test_skipped_csv_holds_hostile_ids_splits_and_paths_safely(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clips, paths = ["=gone", "@gone"], ["-nowhere.wav", "+nowhere.wav"]
    labels = Labels.from_lists(clips, [["dog"], ["dog"]], ["dog"])
    manifest = Manifest.single_split(labels, paths, split="+split")
    with pytest.raises(PrepareError, match="no clip was prepared"):
        prepare(manifest, tmp_path / "out", LogMelConfig(n_mels=16), on_error="skip")
    skipped = tmp_path / "out" / "skipped.csv"
    assert _formula_cells(skipped) == []
    back = [[unescape_cell(c) for c in row] for row in _rows(skipped)[1:]]
    assert back == [[c, "+split", p, "file does not exist"] for c, p in zip(clips, paths, strict=True)]


def test_mixture_table_is_written_safe(tmp_path):
    sources = []
    for k, name in enumerate(["=a", "@b", "+c"]):
        for r in range(2):
            path = tmp_path / "src" / f"-{k}-{r}.wav"
            write_tone(path, frequency_hz=300.0 * (k + 1), duration_seconds=1.0, sample_rate=8000)
            sources.append(SourceClip(path, name, f"rec{k}{r}"))
    train = [s for s in sources if s.recording.endswith("0")]
    test = [s for s in sources if s.recording.endswith("1")]
    result = mix_clips(
        train,
        test,
        tmp_path / "mix",
        train_mixtures=3,
        test_mixtures=1,
        seconds=0.5,
        sources_per_mixture=(2, 3),
        sample_rate=8000,
    )
    assert _formula_cells(result.table) == []
    for row in _rows(result.table)[1:]:
        path, names, fold, used = (
            unescape_cell(row[0]),
            unescape_cell(row[1]),
            row[2],
            unescape_cell(row[3]),
        )
        assert path.startswith("audio/")
        assert set(names.split(",")) <= {"=a", "@b", "+c"}
        assert fold.isdigit()
        assert set(used.split()) <= {s.path.name for s in sources}
        assert row[1].startswith("'")  # every class name here starts with a formula character


# ------------------------------------------------------------------------------- tuning
def test_trials_csv_quotes_text_and_keeps_numbers_plain():
    space = SearchSpace.from_config_dict(
        {"strategy": {"choices": ["=bad", "-minus"]}, "optim.lr": {"low": -1.0, "high": 1.0}}
    )
    rows = [
        TrialRow(0, "complete", -0.5, {"strategy": "=bad", "optim.lr": -0.25}, 1.5, 10),
        TrialRow(1, "pruned", None, {"strategy": "-minus", "optim.lr": 0.5}, None, None),
    ]
    text = _trials_csv(rows, space).decode("utf-8")
    cells = list(csv.reader(text.splitlines()))
    assert cells[0] == ["number", "state", "value", "strategy", "optim.lr", "seconds", "steps"]
    assert cells[1] == ["0", "complete", "-0.5", "'=bad", "-0.25", "1.5", "10"]
    assert cells[2] == ["1", "pruned", "", "'-minus", "0.5", "", ""]


# ------------------------------------------------------------------------------- earmark predict
def test_predict_csv_quotes_hostile_paths_and_tags(tmp_path, monkeypatch):
    from earmark.cli import app

    prepared = make_prepared(tmp_path / "prepared", num_clips=24)
    labels = read_labels(prepared / "labels.csv")
    hostile_names = ("=cmd|' /C calc'!A0", "-minus", "@at", "+plus")
    write_labels(dataclasses.replace(labels, class_names=hostile_names), prepared / "labels.csv")
    runner = CliRunner()
    trained = runner.invoke(
        app,
        [
            "train",
            "--run-dir",
            str(tmp_path / "run"),
            f"data.prepared={prepared}",
            "data.test_folds=[3]",
            "model=cnn",
            "model_options={channels: [8, 16], width_multiplier: 1.0}",
            "segment_frames=16",
            "batch_size=8",
            "epochs=1",
        ],
    )
    assert trained.exit_code == 0, trained.output
    monkeypatch.chdir(tmp_path)
    write_tone(Path("=audio") / "-tone.wav", frequency_hz=440.0, duration_seconds=1.5)
    result = runner.invoke(app, ["predict", "=audio", "--run", "run", "--top-k", "4", "--out", "tags.csv"])
    assert result.exit_code == 0, result.output
    assert _formula_cells(tmp_path / "tags.csv") == []
    rows = _rows(tmp_path / "tags.csv")[1:]
    assert {unescape_cell(row[0]) for row in rows} == {str(Path("=audio") / "-tone.wav")}
    assert sorted(unescape_cell(row[2]) for row in rows) == sorted(hostile_names)
    assert all(_is_number(row[3]) for row in rows)


# ------------------------------------------------------------------ label edits and the CSV loader
def test_label_edits_round_trip_hostile_text(tmp_path):
    from earmark.data.edits import LabelEdit, read_edits, write_edits

    # edit fields are stripped, so only hostile text without surrounding white space is kept
    texts = [text for text in HOSTILE if text == text.strip()]
    edits = [LabelEdit(clip=text, class_name="=cls", action="add", who="@me", why=text) for text in texts]
    path = write_edits(tmp_path / "label-edits.csv", edits)
    assert _formula_cells(path) == []
    assert read_edits(path) == edits


def test_the_csv_loader_reads_escaped_cells_back(tmp_path):
    from earmark.data.loaders._common import read_csv_rows
    from earmark.io import CsvWriter

    path = tmp_path / "table.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(["path", "labels"])
        writer.writerow([escape_cell("=a.wav"), escape_cell("-dog")])
    header, rows = read_csv_rows(path, ["path", "labels"], what="a test table")
    assert header == ["path", "labels"]
    assert rows[0][1] == {"path": "=a.wav", "labels": "-dog"}
