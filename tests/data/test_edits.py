from __future__ import annotations

import threading

import numpy as np
import pytest

from earmark.data.edits import (
    EDIT_COLUMNS,
    MAX_FIELD_CHARS,
    EditError,
    FieldTooLongError,
    LabelEdit,
    append_edits,
    apply_edits,
    count_actions,
    read_edits,
    update_edits,
    utc_now,
    write_edits,
)
from earmark.data.labels import LabelError, Labels


def small_labels() -> Labels:
    return Labels.from_lists(
        ["c1", "c2", "c3"],
        [["dog"], ["rain"], []],
        ["dog", "rain", "bird"],
        annotation="positives_only",
        fold=[1, 2, 3],
        duration_seconds=[1.0, 2.0, 3.0],
    )


def test_round_trip_keeps_every_field_and_odd_text(tmp_path):
    edits = [
        LabelEdit("c1", 'say "hi", ok', "add", who="ana", why="heard it\non two lines", time=utc_now()),
        LabelEdit("c2", "<img src=x onerror=alert(1)>", "remove", who="bo", why="", time=""),
        LabelEdit("c3", "", "blacklist", who="audit noisy", why="silent"),
    ]
    path = write_edits(tmp_path / "edits.csv", edits)
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(EDIT_COLUMNS)
    back = read_edits(path)
    assert back == edits
    assert back[1].origin.endswith("edits.csv, line 4")  # the quoted newline makes line 2 two lines
    assert not list(tmp_path.glob(".*tmp"))


def test_read_tolerates_missing_optional_and_extra_columns(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("action,clip,extra,class\nadd,c1,zzz,dog\n\nremove,c2,,rain\n", encoding="utf-8")
    edits = read_edits(path)
    assert [(e.clip, e.class_name, e.action, e.who, e.time) for e in edits] == [
        ("c1", "dog", "add", "", ""),
        ("c2", "rain", "remove", "", ""),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("clip,action\nc1,add\n", "no column 'class'"),
        ("clip,class,action\nc1,dog,upsert\n", r"line 2: unknown action 'upsert'"),
        ("clip,class,action\nc1,dog,blacklist\n", r"line 2: blacklist excludes the whole clip 'c1'"),
        ("clip,class,action\nc1,,add\n", r"line 2: add of clip 'c1' needs a class"),
        ("clip,class,action\n,dog,add\n", r"line 2: an edit needs a clip id"),
        ("clip,class,action\nc1,dog\n", r"line 2: 2 cells, the header has 3"),
        ("clip,class,action,time\nc1,dog,add,yesterday\n", r"line 2: time 'yesterday' is not ISO-8601"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EditError, match=message) as caught:
        read_edits(path)
    assert "bad.csv" in str(caught.value)


def test_missing_file_raises():
    with pytest.raises(EditError, match="not found"):
        read_edits("/nonexistent/edits.csv")


def test_edit_error_is_a_value_error():
    assert issubclass(EditError, LabelError)
    assert issubclass(EditError, ValueError)


def test_apply_add_remove_blacklist():
    labels = small_labels()
    edits = [
        LabelEdit("c1", "bird", "add"),
        LabelEdit("c2", "rain", "remove"),
        LabelEdit("c3", "", "blacklist"),
    ]
    edited, report = apply_edits(labels, edits)
    assert edited.clip_ids.tolist() == ["c1", "c2"]
    assert edited.positive.tolist() == [[True, False, True], [False, False, False]]
    assert edited.annotated.tolist() == [[True, False, True], [False, True, False]]
    assert edited.fold.tolist() == [1, 2]
    assert edited.duration_seconds.tolist() == [1.0, 2.0]
    assert report.actions == {"add": 1, "remove": 1, "blacklist": 1}
    assert report.changed_entries == 2
    assert report.blacklisted == ("c3",)
    assert report.unknown == ()
    # the input is untouched
    assert labels.positive[1, 1]
    assert labels.num_clips == 3


def test_later_edits_win():
    labels = small_labels()
    edits = [
        LabelEdit("c1", "dog", "remove"),
        LabelEdit("c1", "dog", "add"),
        LabelEdit("c2", "bird", "add"),
        LabelEdit("c2", "bird", "remove"),
    ]
    edited, report = apply_edits(labels, edits)
    assert edited.positive[0].tolist() == [True, False, False]
    assert edited.positive[1].tolist() == [False, True, False]
    assert edited.annotated[1].tolist() == [False, True, True]
    assert report.changed_entries == 1  # only c2/bird became a known negative


def test_unknown_clip_or_class_raises_or_is_reported(tmp_path):
    path = write_edits(
        tmp_path / "edits.csv",
        [LabelEdit("c1", "dog", "add"), LabelEdit("nope", "", "blacklist"), LabelEdit("c2", "cat", "add")],
    )
    edits = read_edits(path)
    with pytest.raises(EditError, match=r"edits.csv, line 3: blacklist edit names unknown clip 'nope'"):
        apply_edits(small_labels(), edits)
    with pytest.raises(EditError, match=r"line 4: add edit of clip 'c2' names unknown class 'cat'"):
        apply_edits(small_labels(), [edits[0], edits[2]])
    edited, report = apply_edits(small_labels(), edits, strict=False)
    assert edited.num_clips == 3
    assert len(report.unknown) == 2
    assert "'nope'" in report.unknown[0]
    assert "'cat'" in report.unknown[1]
    assert report.actions == {"add": 1, "remove": 0, "blacklist": 0}
    assert report.as_dict()["unknown"] == list(report.unknown)


def test_no_edits_changes_nothing():
    labels = small_labels()
    edited, report = apply_edits(labels, [])
    assert edited.equals(labels)
    assert report.actions == {"add": 0, "remove": 0, "blacklist": 0}


def test_append_creates_then_appends(tmp_path):
    path = tmp_path / "sub" / "edits.csv"
    append_edits(path, [LabelEdit("c1", "dog", "add")])
    append_edits(path, [LabelEdit("c2", "", "blacklist"), LabelEdit("c3", "rain", "remove")])
    assert [e.clip for e in read_edits(path)] == ["c1", "c2", "c3"]
    assert count_actions(read_edits(path)) == {"add": 1, "remove": 1, "blacklist": 1}


def test_concurrent_appends_lose_nothing(tmp_path):
    path = tmp_path / "edits.csv"
    barrier = threading.Barrier(8)

    def worker(k: int) -> None:
        barrier.wait()
        for i in range(5):
            append_edits(path, [LabelEdit(f"c{k}-{i}", "dog", "add", who=f"t{k}")])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clips = [e.clip for e in read_edits(path)]
    assert sorted(clips) == sorted(f"c{k}-{i}" for k in range(8) for i in range(5))
    # per writer, the order of its own appends is kept
    for k in range(8):
        mine = [c for c in clips if c.startswith(f"c{k}-")]
        assert mine == [f"c{k}-{i}" for i in range(5)]


def test_update_replaces_under_the_lock(tmp_path):
    path = tmp_path / "edits.csv"
    append_edits(path, [LabelEdit("c1", "dog", "add"), LabelEdit("c2", "dog", "add")])
    kept = update_edits(path, lambda current: [e for e in current if e.clip != "c1"])
    assert [e.clip for e in kept] == ["c2"]
    assert read_edits(path) == kept


def test_failed_update_leaves_the_file_alone(tmp_path):
    path = tmp_path / "edits.csv"
    append_edits(path, [LabelEdit("c1", "dog", "add")])
    before = path.read_bytes()

    def broken(current):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        update_edits(path, broken)
    assert path.read_bytes() == before


def test_utc_now_is_iso_utc():
    stamp = utc_now()
    assert stamp.endswith("Z")
    assert LabelEdit("c", "dog", "add", time=stamp).time == stamp


def test_edit_is_frozen_and_origin_not_compared():
    a = LabelEdit("c1", "dog", "add", origin="x.csv, line 2")
    b = LabelEdit("c1", "dog", "add")
    assert a == b
    assert a.key == ("c1", "dog")
    with pytest.raises(AttributeError):
        a.clip = "c2"  # type: ignore[misc]


def test_apply_on_many_clips_matches_a_loop(rng):
    clips = [f"k{i}" for i in range(50)]
    labels = Labels.from_lists(clips, [[] for _ in clips], ["a", "b", "c"], annotation="positives_only")
    edits = [
        LabelEdit(
            clips[int(rng.integers(50))], "abc"[int(rng.integers(3))], ("add", "remove")[int(rng.integers(2))]
        )
        for _ in range(200)
    ]
    edited, _ = apply_edits(labels, edits)
    expected = np.zeros((50, 3), dtype=bool)
    known = np.zeros((50, 3), dtype=bool)
    for edit in edits:
        i, j = clips.index(edit.clip), "abc".index(edit.class_name)
        expected[i, j] = edit.action == "add"
        known[i, j] = True
    np.testing.assert_array_equal(edited.positive, expected)
    np.testing.assert_array_equal(edited.annotated, known)


# ------------------------------------------------------------------------------------ field limits
def test_a_field_over_the_csv_limit_written_by_hand_is_named_with_file_and_line(tmp_path):
    path = tmp_path / "hand.csv"
    path.write_text(
        f"clip,class,action,who,why,time\nc1,dog,add,me,ok,\nc2,dog,add,me,{'x' * 200_000},\n",
        encoding="utf-8",
    )
    with pytest.raises(
        FieldTooLongError,
        match=rf"hand\.csv, line 3: a field is longer than the {MAX_FIELD_CHARS:,} characters",
    ):
        read_edits(path)


def test_a_field_over_our_limit_written_by_hand_is_named_with_file_line_and_column(tmp_path):
    path = tmp_path / "hand.csv"
    path.write_text(f"clip,class,action,who\nc1,dog,add,{'w' * (MAX_FIELD_CHARS + 1)}\n", encoding="utf-8")
    with pytest.raises(
        FieldTooLongError, match=r"hand\.csv, line 2: the who of the edit of clip 'c1' has"
    ) as caught:
        read_edits(path)
    assert (caught.value.column, caught.value.length) == ("who", MAX_FIELD_CHARS + 1)


def test_every_field_at_the_limit_is_written_and_read_back(tmp_path):
    long = 'a "quoted", comma\r\nnew line\x00nul ' + "é" * MAX_FIELD_CHARS
    long = long[:MAX_FIELD_CHARS]
    edits = [
        LabelEdit(long, long, "add", who=long, why=long),
        LabelEdit("c" * MAX_FIELD_CHARS, "", "blacklist", why="y" * MAX_FIELD_CHARS),
    ]
    path = write_edits(tmp_path / "edits.csv", edits)
    back = read_edits(path)
    assert back == edits
    assert [len(e.why) for e in back] == [MAX_FIELD_CHARS, MAX_FIELD_CHARS]


def test_an_edit_over_the_limit_is_refused_and_the_writer_leaves_the_file_alone(tmp_path):
    with pytest.raises(FieldTooLongError, match=r"the why of the edit of clip 'c1' has 10,001 characters"):
        LabelEdit("c1", "dog", "add", why="x" * (MAX_FIELD_CHARS + 1))
    with pytest.raises(FieldTooLongError, match=r"the clip of the edit of clip \(an id too long to show\)"):
        LabelEdit("c" * (MAX_FIELD_CHARS + 1), "dog", "add")
    path = write_edits(tmp_path / "edits.csv", [LabelEdit("c1", "dog", "add")])
    before = path.read_bytes()
    sneaky = LabelEdit("c2", "dog", "add")
    object.__setattr__(sneaky, "why", "x" * (MAX_FIELD_CHARS + 1))  # past the constructor's check
    with pytest.raises(FieldTooLongError, match=r"cannot write .*edits\.csv, edit 2: the why of the edit"):
        write_edits(path, [LabelEdit("c1", "dog", "add"), sneaky])
    assert path.read_bytes() == before


def test_fields_are_stripped_so_what_is_written_reads_back_equal(tmp_path):
    edit = LabelEdit(" c1 ", "dog\n", "add", who="  ana", why="heard it  ")
    assert (edit.clip, edit.class_name, edit.who, edit.why) == ("c1", "dog", "ana", "heard it")
    assert read_edits(write_edits(tmp_path / "e.csv", [edit])) == [edit]
    with pytest.raises(EditError, match="an edit needs a clip id"):
        LabelEdit("   ", "dog", "add")


def test_text_that_is_not_text_is_refused():
    with pytest.raises(
        EditError, match=r"the why of an edit is not valid text \(it holds an unpaired surrogate\)"
    ):
        LabelEdit("c1", "dog", "add", why="\ud800")
    with pytest.raises(EditError, match="the who of an edit must be text, got int"):
        LabelEdit("c1", "dog", "add", who=3)  # type: ignore[arg-type]


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("clip,class,action\nc1,caf\xe9,add\n".encode("latin-1"))
    with pytest.raises(EditError, match=r"latin\.csv: not UTF-8 text"):
        read_edits(path)


# ------------------------------------------------------------------------------------ unlabel
def test_unlabel_makes_the_clip_unlabeled_and_a_later_label_brings_its_source_back():
    labels = small_labels().with_source("noisy")
    edited, report = apply_edits(labels, [LabelEdit("c1", "", "unlabel"), LabelEdit("c2", "", "unlabel")])
    assert edited.clip_ids.tolist() == ["c1", "c2", "c3"]
    assert edited.source.tolist() == ["unlabeled", "unlabeled", "noisy"]
    assert not edited.positive[:2].any()
    assert not edited.annotated[:2].any()
    assert report.actions == {"add": 0, "remove": 0, "blacklist": 0, "unlabel": 2}
    assert report.unlabeled == ("c1", "c2")
    assert report.changed_entries == 2  # c1/dog and c2/rain were the only annotated entries
    assert report.as_dict()["unlabeled"] == 2
    again, report = apply_edits(
        labels,
        [LabelEdit("c1", "", "unlabel"), LabelEdit("c1", "rain", "add"), LabelEdit("c2", "", "unlabel")],
    )
    assert again.source.tolist() == ["noisy", "unlabeled", "noisy"]
    assert again.positive[0].tolist() == [False, True, False]
    assert again.annotated[0].tolist() == [False, True, False]  # dog stays missing
    assert report.unlabeled == ("c2",)
    gone, report = apply_edits(labels, [LabelEdit("c1", "", "unlabel"), LabelEdit("c1", "", "blacklist")])
    assert gone.clip_ids.tolist() == ["c2", "c3"]
    assert report.unlabeled == ()


def test_unlabel_is_counted_only_when_used_and_needs_an_empty_class(tmp_path):
    assert count_actions([LabelEdit("c1", "dog", "add")]) == {"add": 1, "remove": 0, "blacklist": 0}
    assert count_actions([LabelEdit("c1", "", "unlabel")])["unlabel"] == 1
    with pytest.raises(EditError, match=r"unlabel unlabels the whole clip 'c1'; leave its class empty"):
        LabelEdit("c1", "dog", "unlabel")
    path = write_edits(tmp_path / "e.csv", [LabelEdit("c1", "", "unlabel", who="stage f", why="rule")])
    assert read_edits(path) == [LabelEdit("c1", "", "unlabel", who="stage f", why="rule")]
    with pytest.raises(EditError, match=r"e\.csv, line 2: unlabel edit names unknown clip 'c1'"):
        apply_edits(small_labels().take([1, 2]), read_edits(path))


def test_prepare_names_the_over_long_field_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from earmark.cli import ANTICIPATED, app, describe_error

    path = tmp_path / "review-edits.csv"
    path.write_text(f"clip,class,action,who,why,time\nc1,dog,add,me,{'x' * 200_000},\n", encoding="utf-8")
    (tmp_path / "audio").mkdir()
    result = CliRunner().invoke(
        app,
        [
            "prepare",
            "folder",
            "--root",
            str(tmp_path / "audio"),
            "--out",
            str(tmp_path / "out"),
            "--edits",
            str(path),
        ],
    )
    # the CLI's main() shows an anticipated error as one line (exit 2) instead of a traceback
    assert isinstance(result.exception, FieldTooLongError)
    assert isinstance(result.exception, ANTICIPATED)
    line = describe_error(result.exception)
    assert "review-edits.csv, line 2: a field is longer than the 10,000 characters" in line
    assert "\n" not in line
