from __future__ import annotations

import pytest

from earmark.audit import AuditError, AuditItem, parse_top, read_audit, write_audit


def test_read_sorts_by_rank_and_parses_optional_columns(tmp_path):
    path = tmp_path / "audit.csv"
    path.write_text(
        "clip,rank,class,suggestion,score,class_rank,model_score,top,comment\n"
        "c2,2,dog,remove,0.5,,,,whatever\n"
        "\n"
        "c1,1,rain,add,0.9,3,0.91,rain=0.91;dog=0.05,\n"
        "c3,3,,blacklist,0.1,,,,\n",
        encoding="utf-8",
    )
    items = read_audit(path)
    assert [item.clip for item in items] == ["c1", "c2", "c3"]
    assert items[0] == AuditItem("c1", "rain", "add", 0.9, 3, 0.91, "rain=0.91;dog=0.05")
    assert (items[0].rank, items[0].line) == (1, 4)
    assert items[0].top_scores == (("rain", 0.91), ("dog", 0.05))
    assert items[1].class_rank is None
    assert items[1].model_score is None
    assert items[1].top_scores == ()
    assert items[2].class_name == ""


def test_parse_top_keeps_odd_names():
    assert parse_top("") == ()
    assert parse_top("a=b=0.5;c=0.25") == (("a=b", 0.5), ("c", 0.25))
    assert parse_top("x;y=0.5;z=0.1") == (("x;y", 0.5), ("z", 0.1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rank,clip,class,suggestion\n1,c,d,add\n", "no column 'score'"),
        ("", "no column 'clip'"),
        ("clip,label\nc,d\n", "not an audit table: no column 'class'"),
        ("rank,clip,class,suggestion,score,class_rank\n1,c,d,add,0.5,first\n", r"line 2: class_rank 'first'"),
        ("rank,clip,class,suggestion,score\n1,c,d,upsert,0.5\n", r"line 2: unknown suggestion 'upsert'"),
        ("rank,clip,class,suggestion,score\n1,c,d,blacklist,0.5\n", r"line 2: a blacklist suggestion"),
        ("rank,clip,class,suggestion,score\n1,c,,add,0.5\n", r"line 2: an add suggestion needs a class"),
        ("rank,clip,class,suggestion,score\none,c,d,add,0.5\n", r"line 2: rank 'one' is not a finite number"),
        ("rank,clip,class,suggestion,score\n1,c,d,add,inf\n", r"line 2: score 'inf' is not a finite number"),
        ("rank,clip,class,suggestion,score\n1,,d,add,0.5\n", r"line 2: no clip id"),
    ],
)
def test_bad_audits_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AuditError, match=message) as caught:
        read_audit(path)
    assert "bad.csv" in str(caught.value)


def test_missing_audit_file():
    with pytest.raises(FileNotFoundError, match="audit file not found"):
        read_audit("/nonexistent/audit.csv")


def test_without_a_rank_column_file_order_is_the_rank(tmp_path):
    path = tmp_path / "hand.csv"
    path.write_text("clip,class,suggestion,score\nb,dog,remove,0.2\na,,blacklist,0.9\n", encoding="utf-8")
    assert [(item.rank, item.clip) for item in read_audit(path)] == [(1, "b"), (2, "a")]


def test_a_written_table_reads_back_equal(tmp_path):
    items = [
        AuditItem("c1", "dog; <b>", "add", 0.9, 1, 0.9, "dog; <b>=0.900;cat=0.050"),
        AuditItem("c2", "", "blacklist", 0.5),
    ]
    back = read_audit(write_audit(items, tmp_path / "audit.csv"))
    assert back == items
    assert [item.rank for item in back] == [1, 2]
    assert back[0].top_scores == (("dog; <b>", 0.9), ("cat", 0.05))
