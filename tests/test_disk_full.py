"""A full disk (ENOSPC) or a read-only folder during every earmark command that writes files.

Every file earmark writes should go through :mod:`earmark.io`. Each command case runs twice
through :func:`earmark.cli.main` in its own folder:

1. normally, recording which files earmark.io committed: a file created or changed any other
   way bypassed the atomic helper (a few resumable logs and stores are exempt, by design);
2. again, after its main outputs were overwritten with known content, on a disk that fills up
   in the middle of the first write: the temporary file's ``write`` stores half of what it was
   given and raises ``OSError(ENOSPC)`` (as the kernel does, without a file name), and an
   ``fsync`` of a temporary file (for writers that take a file name, such as
   ``torch.jit.save``) raises it too. The command must exit 2 with one ``error:`` line saying
   "No space left on device" and naming the file, without a traceback, leave every file that
   was in the folder byte-identical and leave no temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import shutil
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

import earmark.io
from earmark.cli import main
from earmark.cli.app import console
from earmark.data.table import read_labels
from earmark.testing import require_data, write_tone
from earmark.testing.prepared import make_prepared

TINY = [
    "model=cnn",
    "model_options={channels: [8, 16], width_multiplier: 1.0}",
    "segment_frames=16",
    "batch_size=8",
    "epochs=1",
    "seed=0",
]
TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp")
NO_SPACE = os.strerror(errno.ENOSPC)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------- running a command
@dataclass
class Outcome:
    """What one command did under the injected failure."""

    code: int
    stderr: str
    failed: list[str]  # the file names earmark.io was writing when the failure was injected
    changed: list[str]  # files that existed before and differ (or are gone) afterwards
    leftovers: list[str]  # temporary files left behind

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _target_of(temporary: Path) -> str:
    """``.name.1a2b3c4d.tmp.csv`` → ``name.csv`` (the file earmark.io was replacing)."""
    stem, _, suffix = temporary.name[1:].partition(".tmp")
    return stem.rsplit(".", 1)[0] + suffix


class _FillingHandle:
    """A file object on a disk that fills up: ``write`` stores half of its data, then raises."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def write(self, data: Any) -> int:
        self._handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, NO_SPACE)

    def __enter__(self) -> _FillingHandle:
        return self

    def __exit__(self, *exc: object) -> Any:
        return self._handle.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def _full_disk_os(failed: list[str]) -> types.SimpleNamespace:
    """An ``os`` for earmark.io whose temporary files cannot be written or fsynced."""

    def fdopen(descriptor: int, *args: Any, **kwargs: Any) -> _FillingHandle:
        failed.append(_target_of(Path(os.readlink(f"/proc/self/fd/{descriptor}"))))
        return _FillingHandle(os.fdopen(descriptor, *args, **kwargs))

    def fsync(descriptor: int) -> None:
        failed.append(_target_of(Path(os.readlink(f"/proc/self/fd/{descriptor}"))))
        raise OSError(errno.ENOSPC, NO_SPACE)

    namespace = types.SimpleNamespace(
        **{name: getattr(os, name) for name in dir(os) if not name.startswith("__")}
    )
    namespace.fdopen = fdopen
    namespace.fsync = fsync
    return namespace


def _read_only_os(failed: list[str]) -> types.SimpleNamespace:
    """An ``os`` for earmark.io on a read-only folder: creating the temporary file is refused."""

    def refuse(path: Any, *args: Any, **kwargs: Any) -> int:
        failed.append(_target_of(Path(path)))
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    namespace = types.SimpleNamespace(
        **{name: getattr(os, name) for name in dir(os) if not name.startswith("__")}
    )
    namespace.open = refuse
    return namespace


def run_failing(
    argv: list[str], folder: Path, make_os: Callable[[list[str]], types.SimpleNamespace] = _full_disk_os
) -> Outcome:
    """Run ``earmark argv`` with earmark.io's ``os`` replaced; compare ``folder`` before and after."""
    before = _snapshot(folder)
    failed: list[str] = []
    stderr = io.StringIO()
    code = 0
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(stderr):
        patch.setattr(earmark.io, "os", make_os(failed))
        patch.setattr(console, "_width", 400)  # one error line, not wrapped at 80 columns
        patch.setattr(sys, "argv", ["earmark", *argv])
        try:
            main()
        except SystemExit as exit_info:
            code = exit_info.code if isinstance(exit_info.code, int) else 1
        except BaseException as error:  # an exception escaping main() is a traceback
            stderr.write(f"Traceback (most recent call last):\n{type(error).__name__}: {error}\n")
            code = 1
    after = {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file()}
    changed = [name for name, data in before.items() if name not in after or after[name].read_bytes() != data]
    leftovers = sorted(name for name, path in after.items() if TEMPORARY.match(path.name))
    return Outcome(code, stderr.getvalue(), failed, changed, leftovers)


# --------------------------------------------------------------------------- the world the commands use
@dataclass
class World:
    """Small inputs every command case reads: prepared data, a trained run, tones, tags."""

    root: Path
    prepared: Path
    run: Path
    tones: Path
    tone_prepared: Path
    audit: Path
    tags: Path
    vocabulary: Path
    mapping: Path
    clip_tags: Path


def _ok(argv: list[str]) -> None:
    """Run ``earmark argv`` normally; it must succeed."""
    code: object = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["earmark", *argv])
        try:
            main()
        except SystemExit as exit_info:
            code = exit_info.code
    assert code in (0, None), f"earmark {' '.join(argv)} failed with {code}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("disk_full")
    prepared = make_prepared(root / "prepared", num_clips=30)
    run = root / "run"
    _ok(
        [
            "train", "--run-dir", str(run), f"data.prepared={prepared}",
            "data.valid_folds=[2]", "data.test_folds=[3]", *TINY,
        ]
    )  # fmt: skip
    tones = root / "tones"
    rng = np.random.default_rng(0)
    for name, frequency in (("dog", 300.0), ("rain", 900.0)):
        for take in range(2):
            write_tone(
                tones / name / f"{take + 1}-{name}.wav", frequency_hz=frequency, duration_seconds=0.5, rng=rng
            )
    tone_prepared = root / "tone_prepared"
    _ok(["prepare", "folder", "--root", str(tones), "--out", str(tone_prepared)])
    audit = root / "audit.csv"
    _ok(["audit", "missing", "--run", str(run), "--out", str(audit), "--per-class", "2"])
    tags = root / "tags.txt"
    tags.write_text("Hip-Hop\n80s metal\nrcok\njoyful\nrock\nsad songs\n", encoding="utf-8")
    vocabulary = root / "targets.csv"
    vocabulary.write_text(
        "tag,category\nrock,genre\nmetal,genre\nhip hop,genre\nsad,emotion\n", encoding="utf-8"
    )
    mapping = root / "mapping.csv"
    _ok(
        [
            "tags",
            "collapse",
            str(tags),
            "--vocabulary",
            str(vocabulary),
            "--method",
            "rules",
            "--out",
            str(mapping),
        ]
    )
    clip_tags = root / "clip_tags.csv"
    clip_tags.write_text("clip_id,tag\nc1,Hip-Hop\nc1,rcok\nc2,80s metal\nc3,sad songs\n", encoding="utf-8")
    return World(root, prepared, run, tones, tone_prepared, audit, tags, vocabulary, mapping, clip_tags)


# --------------------------------------------------------------------------- the cases
PREVIOUS = b"previous content, must survive\n"
# Files written on purpose without earmark.io, each resumable by design: the training log is
# appended line by line (a resumed run trims it to its checkpoint), a feature store appends
# frames and a progress log and renames its frames file when finished, and the search's SQLite
# database keeps its own journal.
BY_DESIGN = re.compile(r"(^|/)(metrics\.jsonl|frames\.f16(\.partial)?|progress\.jsonl|study\.db.*)$")


@dataclass(frozen=True)
class Case:
    """A command, and the outputs it writes that are set to :data:`PREVIOUS` before it fails."""

    argv: list[str]
    outputs: tuple[str, ...] = ()


def case_write_default_config(world: World, folder: Path) -> Case:
    return Case(["write-default-config", str(folder / "prepare.yaml"), "--force"], ("prepare.yaml",))


def case_prepare(world: World, folder: Path) -> Case:
    return Case(["prepare", "folder", "--root", str(world.tones), "--out", str(folder / "prepared")])


def case_prepare_relabel(world: World, folder: Path) -> Case:
    prepared = Path(shutil.copytree(world.tone_prepared, folder / "prepared"))
    clip = read_labels(prepared / "labels.csv").clip_ids[0]
    edits = folder / "edits.csv"
    edits.write_text(f"clip,class,action,who,why,time\n{clip},rain,add,me,test,\n", encoding="utf-8")
    return Case(
        ["prepare", "folder", "--root", str(world.tones), "--out", str(prepared), "--edits", str(edits)]
    )


def case_train(world: World, folder: Path) -> Case:
    return Case(
        [
            "train", "--run-dir", str(folder / "run"), "--resume", f"data.prepared={world.prepared}",
            "data.valid_folds=[2]", "data.test_folds=[3]", *TINY,
        ]
    )  # fmt: skip


def case_evaluate(world: World, folder: Path) -> Case:
    argv = [
        "evaluate", "--predictions", str(world.run / "predictions" / "test.npz"),
        "--labels", str(world.prepared / "labels.csv"), "--out", str(folder / "eval"),
        "--bootstrap", "0", "--no-plots",
    ]  # fmt: skip
    return Case(argv, ("eval/metrics.json", "eval/summary.md", "eval/report.html"))


def case_predict_csv(world: World, folder: Path) -> Case:
    return Case(
        ["predict", "--run", str(world.run), str(world.tones), "--out", str(folder / "tags.csv")],
        ("tags.csv",),
    )


def case_predict_json(world: World, folder: Path) -> Case:
    argv = ["predict", "--run", str(world.run), str(world.tones), "--out", str(folder / "tags.json")]
    return Case(argv, ("tags.json",))


def case_export(world: World, folder: Path) -> Case:
    return Case(
        ["export", "--run", str(world.run), "--out", str(folder / "model.pt")],
        ("model.pt", "model.spec.json"),
    )


def case_audit_missing(world: World, folder: Path) -> Case:
    return Case(
        ["audit", "missing", "--run", str(world.run), "--out", str(folder / "audit.csv")], ("audit.csv",)
    )


def case_audit_noisy(world: World, folder: Path) -> Case:
    run = Path(shutil.copytree(world.run, folder / "run"))
    argv = ["audit", "noisy", "--run", str(run), "--folds", "2", "--out", str(folder / "audit.csv")]
    return Case(argv, ("audit.csv",))


def case_tags_categorize(world: World, folder: Path) -> Case:
    return Case(
        ["tags", "categorize", str(world.tags), "--out", str(folder / "categories.csv")], ("categories.csv",)
    )


def case_tags_collapse(world: World, folder: Path) -> Case:
    argv = [
        "tags", "collapse", str(world.tags), "--vocabulary", str(world.vocabulary), "--method", "rules",
        "--out", str(folder / "mapping.csv"), "--summary", str(folder / "summary.md"),
    ]  # fmt: skip
    return Case(argv, ("mapping.csv", "summary.md"))


def case_tags_to_labels(world: World, folder: Path) -> Case:
    argv = [
        "tags",
        "to-labels",
        str(world.clip_tags),
        "--mapping",
        str(world.mapping),
        "--out",
        str(folder / "labels.csv"),
    ]
    return Case(argv, ("labels.csv", "labels.groups.csv"))


def case_simulate_missing(world: World, folder: Path) -> Case:
    argv = [
        "simulate", "missing", "--labels", str(world.prepared / "labels.csv"),
        "--out", str(folder / "labels40.csv"), "--rate", "0.4",
    ]  # fmt: skip
    return Case(argv, ("labels40.csv",))


def case_ensemble(world: World, folder: Path) -> Case:
    test = world.run / "predictions" / "test.npz"
    return Case(["ensemble", str(test), str(test), "--out", str(folder / "average.npz")], ("average.npz",))


def case_review(world: World, folder: Path) -> Case:
    clips = read_labels(world.tone_prepared / "labels.csv").clip_ids
    audit = folder / "audit.csv"
    audit.write_text(
        "rank,clip,class,suggestion,score,class_rank,model_score,top\n"
        f"1,{clips[0]},rain,add,0.9,1,0.9,rain=0.90\n2,{clips[1]},,blacklist,0.5,,,\n",
        encoding="utf-8",
    )
    argv = ["review", str(audit), "--store", str(world.tone_prepared), "--out", str(folder / "review")]
    return Case(argv, ("review/index.html",))


def case_tune(world: World, folder: Path) -> Case:
    pytest.importorskip("optuna")
    recipe = {
        "data": {"prepared": str(world.prepared), "test_folds": [3], "valid_folds": [2]},
        "model": "cnn",
        "model_options": {"channels": [8, 16]},
        "segment_frames": 16,
        "batch_size": 8,
        "epochs": 1,
        "tune": {"trials": 1, "space": {"optim.lr": {"low": 1.0e-3, "high": 1.0e-2, "log": True}}},
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    argv = ["tune", "--config", str(folder / "recipe.yaml"), "--run-dir", str(folder / "tune")]
    return Case(argv, ("tune/best.yaml", "tune/trials.csv"))


def case_simulate_esc_mix(world: World, folder: Path) -> Case:
    data = require_data("esc10/audio").parent.parent
    argv = [
        "simulate", "esc-mix", "--data", str(data), "--out", str(folder / "mix"),
        "--train-mixtures", "2", "--test-mixtures", "1", "--seconds", "1",
    ]  # fmt: skip
    return Case(argv, ("mix/mixtures.csv", "mix/classes.txt"))


def case_cv(world: World, folder: Path) -> Case:
    argv = ["cv", "--run-dir", str(folder / "cv"), "--folds", "1", f"data.prepared={world.prepared}", *TINY]
    return Case(argv, ("cv/cv_summary.json",))


CASES: dict[str, Callable[[World, Path], Case]] = {
    name.removeprefix("case_"): function for name, function in globals().items() if name.startswith("case_")
}


@dataclass
class Record:
    """A case run twice: normally (which files it wrote past earmark.io), then on a full disk."""

    bypassed: list[str]
    outcome: Outcome


_RECORDS: dict[str, Record] = {}


def _written_past_earmark_io(argv: list[str], folder: Path) -> list[str]:
    """Run ``argv`` normally; the files it created or changed without earmark.io's commit."""
    before = {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    committed: set[Path] = set()
    commit = earmark.io._commit

    def recording_commit(temporary: Path, target: Path) -> None:
        committed.add(target.resolve())
        commit(temporary, target)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(earmark.io, "_commit", recording_commit)
        _ok(argv)
    return sorted(
        name
        for path in folder.rglob("*")
        if path.is_file()
        and before.get(name := str(path.relative_to(folder))) != path.stat().st_mtime_ns
        and path.resolve() not in committed
        and not BY_DESIGN.search(name)
    )


def record_of(name: str, world: World) -> Record:
    """Run case ``name`` once normally, then again on a full disk (every test of a case reads this)."""
    if name not in _RECORDS:
        folder = world.root / "cases" / name
        folder.mkdir(parents=True)
        case = CASES[name](world, folder)
        bypassed = _written_past_earmark_io(case.argv, folder)
        for output in case.outputs:
            (folder / output).write_bytes(PREVIOUS)
        _RECORDS[name] = Record(bypassed, run_failing(case.argv, folder))
    return _RECORDS[name]


@pytest.mark.parametrize("name", list(CASES))
def test_every_file_goes_through_earmark_io(name: str, world: World) -> None:
    assert record_of(name, world).bypassed == []


@pytest.mark.parametrize("name", list(CASES))
def test_a_full_disk_leaves_every_previous_file_intact(name: str, world: World) -> None:
    outcome = record_of(name, world).outcome
    assert outcome.failed, "no write reached earmark.io"
    assert "Traceback" not in outcome.stderr
    assert outcome.code == 2, outcome.stderr
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert NO_SPACE in outcome.error_lines[0]
    assert outcome.changed == []
    assert outcome.leftovers == []


@pytest.mark.parametrize("name", list(CASES))
def test_a_full_disk_error_names_the_file(name: str, world: World) -> None:
    outcome = record_of(name, world).outcome
    assert outcome.failed, outcome.stderr
    assert outcome.error_lines, outcome.stderr
    assert outcome.failed[0] in outcome.error_lines[0]


# --------------------------------------------------------------------------- read-only folders
def _predict_json_into(world: World, folder: Path) -> list[str]:
    (folder / "tags.json").write_bytes(PREVIOUS)
    return ["predict", "--run", str(world.run), str(world.tones), "--out", str(folder / "tags.json")]


def test_a_read_only_folder_is_one_line_and_keeps_the_file(world: World) -> None:
    """Creating the temporary file is refused (EACCES), as in a folder that is not writable."""
    folder = world.root / "read_only_injected"
    folder.mkdir()
    outcome = run_failing(_predict_json_into(world, folder), folder, _read_only_os)
    assert "Traceback" not in outcome.stderr
    assert outcome.code == 2
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert "Permission denied (choose a writable location)" in outcome.error_lines[0]
    assert outcome.changed == []
    assert outcome.leftovers == []
    assert (folder / "tags.json").read_bytes() == PREVIOUS


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a folder of mode 0o555 regardless")
def test_a_read_only_folder_on_disk(world: World) -> None:
    folder = world.root / "read_only"
    folder.mkdir()
    argv = _predict_json_into(world, folder)
    folder.chmod(0o555)
    try:
        outcome = run_failing(argv, folder, lambda failed: os)  # type: ignore[arg-type,return-value]
    finally:
        folder.chmod(0o755)
    assert "Traceback" not in outcome.stderr
    assert outcome.code == 2
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert "Permission denied (choose a writable location)" in outcome.error_lines[0]
    assert "tags" in outcome.error_lines[0]
    assert outcome.changed == []
    assert outcome.leftovers == []
