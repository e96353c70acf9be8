"""Re-run earmark's bad-input, kill and attack cases against the installed command; count outcomes.

Every case runs the installed ``earmark`` command in a subprocess (in a scratch folder) and is
classified:

- **bad inputs** (corrupt, empty, non-audio or missing audio, NaN / inf / wrong shapes in label
  and prediction tables, bad option values, broken or 5,000-deep YAML, outputs that are
  directories, huge integers, unknown keys, ...): a *named error* exits non-zero with exactly
  one line starting with ``error:`` (or typer's usage box naming the option) and no traceback;
  a *traceback* shows ``Traceback``; *accepted silently* exits 0 where an error was due (an
  exit 0 that logs a warning, a reported skip, counts as named);
  *other* is anything else (a crash by signal, a time-out, several or no ``error:`` lines).
- **kill points**: ``prepare`` (real ESC-10 clips) and ``train`` are killed with SIGKILL at
  several moments, then run again (``train --resume``); *data lost* counts a resumed result
  that differs from an uninterrupted run's, and a file left unreadable by the kill.
- **attacks**: a pickle payload planted in a run's ``checkpoints/last.pt`` and ``best.pt``
  (loaded by ``predict``, ``export``, ``train --resume`` and ``audit missing``; the payload
  would create a marker file), path traversal, DNS rebinding and cross-origin requests to
  ``earmark review --serve``, and formula cells (``=``, ``+``, ``-``, ``@``) reaching CSV
  outputs; *attacks succeeded* counts the marker appearing, a secret served, a foreign request
  recorded, the server stopping, or a formula cell written unescaped.

It prints a Markdown table and the list of every case that was not a named error (or lost data,
or let an attack through), and writes them into ``--out`` between the markers
``<!-- reliability:begin -->`` and ``<!-- reliability:end -->`` (appended when absent).

    nice -n 19 .venv/bin/python benchmarks/reliability.py            # everything, ~15 min
    nice -n 19 .venv/bin/python benchmarks/reliability.py --quick    # a subset, ~4 min
"""

from __future__ import annotations

import argparse
import csv
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from earmark.data.table import read_labels, write_labels
from earmark.testing import data_root, write_broken_files, write_tone
from earmark.testing.prepared import make_prepared

REPOSITORY = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- reliability:begin -->", "<!-- reliability:end -->"
TINY = [
    "model=cnn",
    "model_options={channels: [8, 16], width_multiplier: 1.0}",
    "segment_frames=16",
    "batch_size=8",
    "seed=0",
]
SPLITS = ["data.valid_folds=[2]", "data.test_folds=[3]"]
FORMULAS = ('=HYPERLINK("http://x")', "+SUM(1,1)", "-2+3*A1", "@cmd")
OUTCOMES = ("named", "traceback", "silent", "other")


# --------------------------------------------------------------------------- running the command
def earmark_command() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m earmark``."""
    script = Path(sys.executable).with_name("earmark")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "earmark"]


def command_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("EARMARK_DEBUG", "EARMARK_CSV_SAFE")}
    env.update(COLUMNS="400", NO_COLOR="1", TERM="dumb", PYTHONUNBUFFERED="1")
    return env


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str
    seconds: float


def run_exec(argv: Sequence[str], cwd: Path, timeout: float = 600.0) -> Ran:
    """Run the installed console script in a new process."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [*earmark_command(), *argv],
            cwd=cwd,
            env=command_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout if isinstance(expired.stdout, str) else ""
        return Ran(-999, out, f"timed out after {timeout:.0f} s", time.perf_counter() - started)
    return Ran(done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


# A process that imports the console script's entry point (earmark.cli.main) once, then forks a
# child per request: the child runs main() as the console script does (an escaping exception
# prints its traceback, exit 1), so a case costs a fork instead of importing torch again.
_FORK_SERVER = r"""
import json, os, signal, sys, time, traceback
from earmark.cli import main
for line in sys.stdin:
    request = json.loads(line)
    out, err = request["stdout"], request["stderr"]
    pid = os.fork()
    if pid == 0:
        os.chdir(request["cwd"])
        for fd, path in ((1, out), (2, err)):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        sys.argv = ["earmark", *request["argv"]]
        code = 0
        try:
            main()
        except SystemExit as done:
            if isinstance(done.code, int) or done.code is None:
                code = done.code or 0
            else:
                print(done.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    deadline = time.monotonic() + request["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            code = -999
            break
        time.sleep(0.01)
    print(json.dumps({"code": code}), flush=True)
"""


class ForkLauncher:
    """Runs cases in children forked from one process per thread that imported earmark once."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._servers: list[subprocess.Popen[str]] = []
        self._lock = threading.Lock()

    def _server(self) -> subprocess.Popen[str]:
        server = getattr(self._local, "server", None)
        if server is None or server.poll() is not None:
            server = subprocess.Popen(
                [sys.executable, "-c", _FORK_SERVER],
                env=command_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self._local.server = server
            with self._lock:
                self._servers.append(server)
        return server

    def __call__(self, argv: Sequence[str], cwd: Path, timeout: float = 600.0) -> Ran:
        server = self._server()
        assert server.stdin is not None
        assert server.stdout is not None
        with tempfile.TemporaryDirectory() as folder:
            out, err = Path(folder) / "stdout", Path(folder) / "stderr"
            request = {"argv": list(argv), "cwd": str(cwd), "stdout": str(out), "stderr": str(err)}
            started = time.perf_counter()
            server.stdin.write(json.dumps({**request, "timeout": timeout}) + "\n")
            server.stdin.flush()
            reply = server.stdout.readline()
            seconds = time.perf_counter() - started
            if not reply:
                return Ran(-998, "", "the fork server died", seconds)
            code = int(json.loads(reply)["code"])
            stdout = out.read_text(errors="replace") if out.exists() else ""
            stderr = err.read_text(errors="replace") if err.exists() else ""
        if code == -999:
            stderr += f"\ntimed out after {timeout:.0f} s"
        return Ran(code, stdout, stderr, seconds)

    def close(self) -> None:
        for server in self._servers:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=30)


LAUNCHER: Callable[..., Ran] = run_exec


def run(argv: Sequence[str], cwd: Path, timeout: float = 600.0) -> Ran:
    """Run ``earmark argv`` in ``cwd`` with the chosen launcher (see ``--launcher``)."""
    return LAUNCHER(argv, cwd, timeout)


def classify(ran: Ran) -> tuple[str, str]:
    """``(outcome, detail)`` of a run where an error was due."""
    text = ran.stdout + ran.stderr
    if "Traceback (most recent call last)" in text:
        last = [line for line in text.strip().splitlines() if line.strip()][-1:]
        return "traceback", (last[0].strip() if last else "")[:240]
    if ran.code == 0:
        warned = [line.strip() for line in text.splitlines() if "WARNING" in line]
        if warned:  # a documented skip, reported on the console: counted with the named outcomes
            return "named", "reported skip: " + warned[0][:200]
        return "silent", "exit 0"
    if ran.code in (-999, -998):
        return "other", ran.stderr.strip()[-200:]
    if ran.code < 0:
        return "other", f"killed by signal {-ran.code}"
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    if len(errors) == 1:
        return "named", errors[0][:240]
    if ran.code == 2 and ("Usage:" in ran.stderr or "Error" in ran.stderr) and not errors:
        usage = [line.strip(" │╭╰─") for line in ran.stderr.splitlines() if line.strip(" │╭╰─")]
        return "named", "usage: " + " ".join(usage[-2:])[:200]
    return "other", f"exit {ran.code}, {len(errors)} error lines: {ran.stderr.strip()[-200:]}"


# --------------------------------------------------------------------------- results
@dataclass
class Result:
    category: str
    name: str
    outcome: str  # named, traceback, silent, other, ok, data_lost, attack
    detail: str = ""


@dataclass
class Tally:
    results: list[Result] = field(default_factory=list)

    def add(self, category: str, name: str, outcome: str, detail: str = "") -> None:
        self.results.append(Result(category, name, outcome, detail))
        mark = {"named": ".", "ok": ".", "silent": "S", "traceback": "T", "other": "?"}.get(outcome, "!")
        print(f"  [{mark}] {category} / {name}: {outcome} {detail[:120]}", flush=True)

    def table(self) -> str:
        header = (
            "| category | tried | named errors | tracebacks | accepted silently | other | data lost "
            "| attacks succeeded |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
        )
        rows = []
        categories = list(dict.fromkeys(r.category for r in self.results))
        for category in [*categories, "total"]:
            chosen = [r for r in self.results if category in (r.category, "total")]
            count = {o: sum(r.outcome == o for r in chosen) for o in (*OUTCOMES, "data_lost", "attack")}
            rows.append(
                f"| {category} | {len(chosen)} | {count['named']} | {count['traceback']} | {count['silent']} "
                f"| {count['other']} | {count['data_lost']} | {count['attack']} |"
            )
        return header + "\n".join(rows) + "\n"

    def failures(self) -> str:
        bad = [r for r in self.results if r.outcome not in ("named", "ok")]
        if not bad:
            return "Every case was a named error, lost no data and let no attack through.\n"
        lines = [f"- **{r.outcome}** {r.category} / `{r.name}`: {r.detail}" for r in bad]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- fixtures
@dataclass
class World:
    work: Path
    prepared: Path
    run: Path
    tones: Path
    broken: dict[str, Path]
    tone_prepared: Path
    esc10: Path | None


def build_world(work: Path) -> World:
    """Small synthetic inputs (earmark.testing) and, when present, a few real ESC-10 clips."""
    prepared = make_prepared(work / "prepared", num_clips=30)
    tones = work / "tones"
    rng = np.random.default_rng(0)
    for name, frequency in (("dog", 300.0), ("rain", 900.0)):
        for take in range(2):
            write_tone(tones / name / f"{take + 1}-{name}{take}.wav", frequency_hz=frequency, rng=rng)
    broken = write_broken_files(work / "broken")
    (work / "broken" / "text.wav").write_text("not audio at all\n")
    broken["text"] = work / "broken" / "text.wav"
    ran = run(["train", "--run-dir", "run", f"data.prepared={prepared}", *SPLITS, *TINY, "epochs=1"], work)
    if ran.code != 0:
        raise SystemExit(f"could not train the fixture run:\n{ran.stderr[-2000:]}")
    ran = run(["prepare", "folder", "--root", str(tones), "--out", "tone_prepared"], work)
    if ran.code != 0:
        raise SystemExit(f"could not prepare the tones:\n{ran.stderr[-2000:]}")
    esc10 = data_root() / "esc10" / "audio"
    return World(
        work, prepared, work / "run", tones, broken, work / "tone_prepared", esc10 if esc10.is_dir() else None
    )


def write_predictions_variant(
    source: Path, target: Path, change: Callable[[dict[str, np.ndarray]], None]
) -> Path:
    arrays = dict(np.load(source, allow_pickle=False))
    change(arrays)
    np.savez(target, **arrays)
    return target


def labels_variant(source: Path, target: Path, row: int, column: str, value: str) -> Path:
    with source.open(newline="") as handle:
        rows = list(csv.reader(handle))
    rows[row + 1][rows[0].index(column)] = value
    with target.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return target


def one_bad_file_root(world: World, kind: str) -> Path:
    """A folder-per-class root: one good tone in ``dog``, the broken file of ``kind`` in ``rain``."""
    root = world.work / f"root_{kind}"
    write_tone(root / "dog" / "1-good.wav", duration_seconds=0.5)
    (root / "rain").mkdir(parents=True, exist_ok=True)
    shutil.copy(world.broken[kind], root / "rain" / f"1-bad{world.broken[kind].suffix}")
    return root


# --------------------------------------------------------------------------- (a) bad inputs
def bad_input_cases(world: World) -> list[tuple[str, str, list[str]]]:
    """``(command, name, argv)``: every one must be refused with a named error."""
    w, p, r = world.work, str(world.prepared), str(world.run)
    test_npz = world.run / "predictions" / "test.npz"
    labels = world.prepared / "labels.csv"
    tone = str(next(world.tones.rglob("*.wav")))
    (w / "deep.yaml").write_text("epochs: " + "[" * 5000 + "]" * 5000 + "\n")
    (w / "broken.yaml").write_text("model: [cnn\noptim: {lr: \n")
    (w / "list.yaml").write_text("- 1\n- 2\n")
    (w / "unknown.yaml").write_text("epochz: 3\n")
    (w / "a_directory").mkdir(exist_ok=True)
    (w / "a_file").write_text("x\n")
    (w / "empty.csv").write_text("")
    nan = write_predictions_variant(
        test_npz, w / "nan.npz", lambda a: a["scores"].__setitem__((0, 0), np.nan)
    )
    inf = write_predictions_variant(
        test_npz, w / "inf.npz", lambda a: a["scores"].__setitem__((0, 1), np.inf)
    )

    def narrow(arrays: dict[str, np.ndarray]) -> None:
        arrays["scores"] = arrays["scores"][:, :-1]

    def other_clips(arrays: dict[str, np.ndarray]) -> None:
        arrays["clip_ids"] = np.array([f"x{i}" for i in range(len(arrays["clip_ids"]))])

    def other_classes(arrays: dict[str, np.ndarray]) -> None:
        arrays["class_names"] = np.array([f"k{i}" for i in range(len(arrays["class_names"]))])

    shape = write_predictions_variant(test_npz, w / "shape.npz", narrow)
    clips = write_predictions_variant(test_npz, w / "clips.npz", other_clips)
    classes = write_predictions_variant(test_npz, w / "classes.npz", other_classes)
    (w / "zero.npz").write_bytes(b"")
    (w / "garbage.npz").write_bytes(os.urandom(512))
    nan_labels = labels_variant(labels, w / "nan_labels.csv", 0, "class0", "nan")
    two_labels = labels_variant(labels, w / "two_labels.csv", 0, "class0", "2")
    inf_duration = labels_variant(labels, w / "inf_duration.csv", 0, "duration_seconds", "inf")
    bad_fold = labels_variant(labels, w / "bad_fold.csv", 0, "fold", "99999999999999999999999")
    garbage_run = Path(shutil.copytree(world.run, w / "garbage_run"))
    (garbage_run / "checkpoints" / "best.pt").write_bytes(os.urandom(2048))
    empty_run = Path(shutil.copytree(world.run, w / "empty_run"))
    (empty_run / "checkpoints" / "best.pt").write_bytes(b"")
    nan_prep = Path(shutil.copytree(world.prepared, w / "nan_prepared"))
    labels_variant(labels, nan_prep / "labels.csv", 1, "class1", "nan")
    audit = w / "audit.csv"
    train = ["train", "--run-dir", str(w / "bad_run"), f"data.prepared={p}", *SPLITS, *TINY, "epochs=1"]
    huge = str(10**30)
    cases: list[tuple[str, str, list[str]]] = []

    def add(command: str, name: str, argv: list[str]) -> None:
        cases.append((command, name, argv))

    for kind in ("empty", "corrupt", "zero_length", "nan", "inf", "unsupported", "text"):
        root = one_bad_file_root(world, kind)
        add(
            "prepare",
            f"{kind} audio file",
            ["prepare", "folder", "--root", str(root), "--out", f"prep_{kind}"],
        )
    prep = ["prepare", "folder", "--root", str(world.tones)]
    add("prepare", "missing root", ["prepare", "folder", "--root", "no/such/folder", "--out", "prep_x"])
    add("prepare", "n_mels=100000", [*prep, "--out", "prep_m", "--frontend-set", "n_mels=100000"])
    add("prepare", "n_mels=0", [*prep, "--out", "prep_m0", "--frontend-set", "n_mels=0"])
    add("prepare", "sample_rate=-1", [*prep, "--out", "prep_sr", "--frontend-set", "sample_rate=-1"])
    add("prepare", "huge hop", [*prep, "--out", "prep_h", "--frontend-set", f"hop_seconds={huge}"])
    add("prepare", "unknown front-end key", [*prep, "--out", "prep_u", "--frontend-set", "mels=64"])
    add("prepare", "unknown loader key", [*prep, "--out", "prep_l", "--set", "fold_patern=x"])
    add("prepare", "unknown layout", ["prepare", "nolayout", "--root", str(world.tones), "--out", "prep_n"])
    add("prepare", "--out is a file", [*prep, "--out", str(w / "a_file")])
    add("prepare", "--workers 0", [*prep, "--out", "prep_w", "--workers", "0"])
    add("prepare", "--shard 3/2", [*prep, "--out", "prep_s", "--shard", "3/2"])
    add("prepare", "5,000-deep YAML", [*prep, "--out", "prep_d", "--config", str(w / "deep.yaml")])
    add("prepare", "invalid YAML", [*prep, "--out", "prep_y", "--config", str(w / "broken.yaml")])
    add("prepare", "bad fold pattern", [*prep, "--out", "prep_f", "--set", "fold_pattern=(["])
    add("train", "optim.lr=-1", [*train, "optim.lr=-1"])
    add("train", "optim.lr=nan", [*train, "optim.lr=nan"])
    add("train", "optim.lr=inf", [*train, "optim.lr=inf"])
    add("train", "optim.grad_clip_norm=-1", [*train, "optim.grad_clip_norm=-1"])
    add("train", "epochs=0", [*train, "epochs=0"])
    add("train", "batch_size=0", [*train, "batch_size=0"])
    add("train", "huge batch_size", [*train, f"batch_size={huge}"])
    add("train", "huge seed", [*train, f"seed={huge}"])
    add("train", "segment_frames=-5", [*train, "segment_frames=-5"])
    add("train", "unknown key", [*train, "epochz=3"])
    add("train", "unknown model", [*train, "model=nomodel"])
    add("train", "unknown strategy", [*train, "strategy=nostrategy"])
    add("train", "unknown model option", [*train, "model_options={chanels: [8]}"])
    add("train", "invalid YAML override", [*train, "model_options={channels: [8,"])
    add("train", "override without =", [*train, "epochs"])
    add("train", "5,000-deep YAML recipe", [*train, "--config", str(w / "deep.yaml")])
    add("train", "recipe is a list", [*train, "--config", str(w / "list.yaml")])
    add("train", "recipe is a directory", [*train, "--config", str(w / "a_directory")])
    add("train", "missing prepared", ["train", "--run-dir", "bad_run2", "data.prepared=no/such", *TINY])
    add("train", "test fold absent", [*train[:4], "data.test_folds=[99]", *TINY, "epochs=1"])
    add(
        "train",
        "NaN in labels",
        ["train", "--run-dir", "bad_run3", f"data.prepared={nan_prep}", *SPLITS, *TINY],
    )
    add(
        "train", "--run-dir is a file", ["train", "--run-dir", str(w / "a_file"), f"data.prepared={p}", *TINY]
    )
    evaluate = ["evaluate", "--labels", str(labels), "--out", "eval_out", "--no-plots", "--bootstrap", "0"]
    add("evaluate", "NaN score", [*evaluate, "--predictions", str(nan)])
    add("evaluate", "inf score", [*evaluate, "--predictions", str(inf)])
    add("evaluate", "scores of the wrong shape", [*evaluate, "--predictions", str(shape)])
    add("evaluate", "clips not in the labels", [*evaluate, "--predictions", str(clips)])
    add("evaluate", "classes not in the labels", [*evaluate, "--predictions", str(classes)])
    add("evaluate", "zero-byte predictions", [*evaluate, "--predictions", str(w / "zero.npz")])
    add("evaluate", "garbage predictions", [*evaluate, "--predictions", str(w / "garbage.npz")])
    add("evaluate", "missing predictions", [*evaluate, "--predictions", "no/such.npz"])
    base = ["evaluate", "--predictions", str(test_npz), "--out", "eval_out", "--no-plots", "--bootstrap", "0"]
    add("evaluate", "NaN label", [*base, "--labels", str(nan_labels)])
    add("evaluate", "label value 2", [*base, "--labels", str(two_labels)])
    add("evaluate", "inf duration", [*base, "--labels", str(inf_duration)])
    add("evaluate", "huge fold", [*base, "--labels", str(bad_fold)])
    add("evaluate", "empty label table", [*base, "--labels", str(w / "empty.csv")])
    add("evaluate", "--threshold nan", [*base, "--labels", str(labels), "--threshold", "nan"])
    add("evaluate", "--bootstrap -1", [*base[:-2], "--labels", str(labels), "--bootstrap", "-1"])
    add("evaluate", "--out is a file", [*base[:3], "--labels", str(labels), "--out", str(w / "a_file")])
    predict = ["predict", "--run", r]
    add("predict", "--top-k 0", [*predict, tone, "--top-k", "0"])
    add("predict", "--top-k -1", [*predict, tone, "--top-k", "-1"])
    add("predict", "huge --top-k", [*predict, tone, "--top-k", huge])
    for kind in ("empty", "corrupt", "zero_length", "nan", "inf", "text"):
        add("predict", f"{kind} audio file", [*predict, str(world.broken[kind])])
    add("predict", "missing audio file", [*predict, "no/such.wav"])
    add("predict", "missing run", ["predict", "--run", "no/such/run", tone])
    add("predict", "garbage checkpoint", ["predict", "--run", str(garbage_run), tone])
    add("predict", "zero-byte checkpoint", ["predict", "--run", str(empty_run), tone])
    add("predict", "--out is a directory", [*predict, tone, "--out", str(w / "a_directory")])
    add("predict", "--out a directory named .csv", [*predict, tone, "--out", str(_dir(w / "dir.csv"))])
    add("predict", "--out of another kind", [*predict, tone, "--out", "tags.txt"])
    add("export", "unknown format", ["export", "--run", r, "--format", "tflite"])
    add("export", "--out is a directory", ["export", "--run", r, "--out", str(_dir(w / "model.pt"))])
    add("export", "garbage checkpoint", ["export", "--run", str(garbage_run)])
    missing = ["audit", "missing", "--run", r, "--out", str(audit)]
    add("audit", "missing --min-score nan", [*missing, "--min-score", "nan"])
    add("audit", "missing --per-class 0", [*missing, "--per-class", "0"])
    add("audit", "missing --limit -1", [*missing, "--limit", "-1"])
    add("audit", "missing --split nosplit", [*missing, "--split", "nosplit"])
    add("audit", "missing --checkpoint worst", [*missing, "--checkpoint", "worst"])
    add(
        "audit",
        "missing --out is a directory",
        ["audit", "missing", "--run", r, "--out", str(_dir(w / "a.csv"))],
    )
    noisy = ["audit", "noisy", "--run", r, "--out", str(audit), "--folds", "2"]
    add("audit", "noisy --flag-top -3", [*noisy, "--flag-top", "-3"])
    add("audit", "noisy --junk-below 2", [*noisy, "--junk-below", "2"])
    add("audit", "noisy --method nomethod", [*noisy, "--method", "nomethod"])
    add("audit", "noisy --folds 1", [*noisy[:-2], "--folds", "1"])
    add("audit", "noisy --rounds -1", [*noisy, "--rounds", "-1"])
    tags = w / "tags.txt"
    tags.write_text("rock\nmetal\n")
    (w / "vocabulary.csv").write_text("tag,category\nrock,genre\n")
    add("tags", "categorize missing file", ["tags", "categorize", "no/such.txt"])
    add("tags", "categorize --score-level 2", ["tags", "categorize", str(tags), "--score-level", "2"])
    collapse = ["tags", "collapse", str(tags), "--vocabulary", str(w / "vocabulary.csv"), "--out", "map.csv"]
    add("tags", "collapse --method nomethod", [*collapse, "--method", "nomethod"])
    add("tags", "collapse --percentile -1", [*collapse, "--method", "both", "--percentile", "-1"])
    add("tags", "collapse empty vocabulary", [*collapse[:4], str(w / "empty.csv"), "--method", "rules"])
    add(
        "tags",
        "to-labels empty mapping",
        ["tags", "to-labels", str(tags), "--mapping", str(w / "empty.csv"), "--out", "l.csv"],
    )
    simulate = ["simulate", "missing", "--labels", str(labels), "--out", "sim.csv"]
    add("simulate", "missing --rate 1.5", [*simulate, "--rate", "1.5"])
    add("simulate", "missing --rate nan", [*simulate, "--rate", "nan"])
    add("simulate", "missing --mode nomode", [*simulate, "--rate", "0.3", "--mode", "nomode"])
    add(
        "simulate",
        "missing labels with NaN",
        ["simulate", "missing", "--labels", str(nan_labels), "--out", "s.csv", "--rate", "0.3"],
    )
    mix = ["simulate", "esc-mix", "--data", str(data_root()), "--out", "mix", "--train-mixtures", "2"]
    add("simulate", "esc-mix --test-share 2", [*mix, "--test-share", "2"])
    add(
        "simulate",
        "esc-mix --min-sources 5 --max-sources 2",
        [*mix, "--min-sources", "5", "--max-sources", "2"],
    )
    add("simulate", "esc-mix --seconds -1", [*mix, "--seconds", "-1"])
    add("ensemble", "one file", ["ensemble", str(test_npz), "--out", "avg.npz"])
    add("ensemble", "different classes", ["ensemble", str(test_npz), str(classes), "--out", "avg.npz"])
    add("ensemble", "different clips", ["ensemble", str(test_npz), str(clips), "--out", "avg.npz"])
    add("ensemble", "NaN scores", ["ensemble", str(test_npz), str(nan), "--out", "avg.npz"])
    add("config", "unknown kind", ["write-default-config", "x.yaml", "--kind", "nokind"])
    add("config", "path is a directory", ["write-default-config", str(w / "a_directory"), "--force"])
    tp = str(world.tone_prepared)
    clip = str(read_labels(world.tone_prepared / "labels.csv").clip_ids[0])
    (w / "audit_ok.csv").write_text(
        f"rank,clip,class,suggestion,score,class_rank,model_score,top\n1,{clip},rain,add,0.9,1,0.9,\n"
    )
    (w / "audit_unknown_clip.csv").write_text(
        "rank,clip,class,suggestion,score,class_rank,model_score,top\n1,nosuch,rain,add,0.9,1,0.9,\n"
    )
    (w / "audit_unknown_class.csv").write_text(
        f"rank,clip,class,suggestion,score,class_rank,model_score,top\n1,{clip},noclass,add,0.9,1,0.9,\n"
    )
    (w / "audit_nan.csv").write_text(
        f"rank,clip,class,suggestion,score,class_rank,model_score,top\n1,{clip},rain,add,nan,1,nan,\n"
    )
    review = ["review", str(w / "audit_ok.csv"), "--store", tp, "--out", "review_out"]
    add(
        "review",
        "audit of an unknown clip",
        ["review", str(w / "audit_unknown_clip.csv"), "--store", tp, "--out", "rv"],
    )
    add(
        "review",
        "audit of an unknown class",
        ["review", str(w / "audit_unknown_class.csv"), "--store", tp, "--out", "rv"],
    )
    add("review", "audit with NaN scores", ["review", str(w / "audit_nan.csv"), "--store", tp, "--out", "rv"])
    add("review", "garbage audit", ["review", str(w / "garbage.npz"), "--store", tp, "--out", "rv"])
    add("review", "--limit 0", [*review, "--limit", "0"])
    add("review", "--max-seconds 1000", [*review, "--max-seconds", "1000"])
    add("review", "--audio-format mp4", [*review, "--audio-format", "mp4"])
    add("review", "--serve --port 70000", [*review, "--serve", "--port", "70000"])
    add("review", "missing store", ["review", str(w / "audit_ok.csv"), "--store", "no/such", "--out", "rv"])
    add("info", "garbage label table", ["info", str(w / "garbage.npz")])
    add("info", "missing path", ["info", "no/such"])
    add("compare", "different clips", ["compare", str(test_npz), str(clips), "--labels", str(labels)])
    (w / "notune.yaml").write_text(f"data: {{prepared: {p}, test_folds: [3], valid_folds: [2]}}\nepochs: 1\n")
    add(
        "tune", "recipe without tune block", ["tune", "--config", str(w / "notune.yaml"), "--run-dir", "tune"]
    )
    add("tune", "5,000-deep YAML recipe", ["tune", "--config", str(w / "deep.yaml"), "--run-dir", "tune"])
    return cases


def _dir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


def run_bad_inputs(world: World, tally: Tally, *, quick: bool, jobs: int) -> None:
    cases = bad_input_cases(world)
    if quick:
        cases = cases[::4]
    print(f"(a) bad inputs: {len(cases)} cases", flush=True)
    scratch = _dir(world.work / "bad")

    def one(case: tuple[str, str, list[str]]) -> tuple[str, str, Ran]:
        command, name, argv = case
        folder = Path(tempfile.mkdtemp(dir=scratch))
        return command, name, run(argv, folder, timeout=300)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for command, name, ran in pool.map(one, cases):
            outcome, detail = classify(ran)
            tally.add(f"bad inputs: {command}", name, outcome, detail)


# --------------------------------------------------------------------------- (b) kill points
TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp")


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but earmark.io's temporary files (see :func:`temporaries`)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not TEMPORARY.match(p.name)
    }


def temporaries(folder: Path) -> list[str]:
    """earmark.io temporary files left under ``folder`` (a kill mid-write leaves one)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if TEMPORARY.match(p.name))


def unreadable(folder: Path) -> list[str]:
    """Finished-looking files (not a temporary or a resumable partial one) that do not parse."""
    bad = []
    for path in folder.rglob("*"):
        if not path.is_file() or path.name.startswith(".") or path.name.endswith(".partial"):
            continue
        try:
            if path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".npz":
                dict(np.load(path, allow_pickle=False))
            elif path.suffix == ".pt":
                torch.load(path, map_location="cpu", weights_only=True)
            elif path.suffix == ".csv":
                list(csv.reader(path.open(newline="")))
        except Exception as error:
            bad.append(f"{path.relative_to(folder)} ({type(error).__name__})")
    return bad


def start_and_kill(argv: list[str], cwd: Path, trigger: Callable[[float], bool], timeout: float = 600) -> str:
    """Start ``earmark argv``; SIGKILL it when ``trigger(seconds since start)`` holds.

    Returns ``killed`` or ``finished`` (it ended before the trigger).
    """
    process = subprocess.Popen(
        [*earmark_command(), *argv],
        cwd=cwd,
        env=command_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.perf_counter()
    while process.poll() is None:
        elapsed = time.perf_counter() - started
        if trigger(elapsed) or elapsed > timeout:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return "killed"
        time.sleep(0.02)
    return "finished"


def appeared(path_glob: Callable[[], list[Path]], delay: float = 0.0) -> Callable[[float], bool]:
    """A trigger firing ``delay`` seconds after a file matching ``path_glob`` appears."""
    seen: list[float] = []

    def fire(elapsed: float) -> bool:
        if not seen and path_glob():
            seen.append(elapsed)
        return bool(seen) and elapsed >= seen[0] + delay

    return fire


def timed_baseline(argv: list[str], cwd: Path, first: Callable[[], list[Path]]) -> tuple[Ran, float]:
    """Run to the end; also how long it ran after ``first()`` matched a file."""
    process = subprocess.Popen(
        [*earmark_command(), *argv],
        cwd=cwd,
        env=command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.perf_counter()
    seen = None
    while process.poll() is None:
        if seen is None and first():
            seen = time.perf_counter()
        time.sleep(0.02)
    stdout, stderr = process.communicate()
    ended = time.perf_counter()
    return Ran(process.returncode, stdout, stderr, ended - started), ended - (seen or started)


def kill_prepare(world: World, tally: Tally, *, quick: bool) -> None:
    if world.esc10 is None:
        tally.add("kill + resume: prepare", "ESC-10 clips", "other", f"real data absent at {world.esc10}")
        return
    root = _dir(world.work / "esc10_subset")
    for folder in sorted(world.esc10.iterdir())[:3]:
        _dir(root / folder.name)
        for clip in sorted(folder.glob("*.flac"))[:12]:
            shutil.copy(clip, root / folder.name / clip.name)
    base = _dir(world.work / "kill_prepare")
    argv = ["prepare", "folder", "--root", str(root), "--set", r"fold_pattern=^(\d+)-", "--workers", "1"]
    print("(b) kill points: prepare on 36 real ESC-10 clips", flush=True)
    progress = lambda out: lambda: list((base / out).glob("features/*/progress.jsonl"))  # noqa: E731
    ran, busy = timed_baseline([*argv, "--out", "reference"], base, progress("reference"))
    if ran.code != 0:
        tally.add("kill + resume: prepare", "uninterrupted run", *classify(ran))
        return
    reference = files_of(base / "reference")
    points = {"progress log appears": 0.0, "35 % of the writing": 0.35, "80 % of the writing": 0.8}
    if quick:
        points = {"35 % of the writing": 0.35}
    for name, share in points.items():
        out = f"killed_{int(share * 100)}"
        how = start_and_kill([*argv, "--out", out], base, appeared(progress(out), share * busy))
        damaged = unreadable(base / out)
        again = run([*argv, "--out", out], base)
        if again.code != 0:
            tally.add("kill + resume: prepare", name, *classify(again))
            continue
        after = files_of(base / out)
        differ = sorted(
            k for k in set(reference) | set(after) if k != "prepare.json" and reference.get(k) != after.get(k)
        )
        if damaged or differ:
            tally.add(
                "kill + resume: prepare", name, "data_lost", f"{how}; damaged {damaged}; differ {differ}"
            )
        else:
            tally.add(
                "kill + resume: prepare", name, "ok", f"{how}; every file identical to the uninterrupted run"
            )


def kill_train(world: World, tally: Tally, *, quick: bool) -> None:
    prepared = make_prepared(world.work / "kill_prepared", num_clips=90, seed=4)
    base = _dir(world.work / "kill_train")
    settings = [f"data.prepared={prepared}", *SPLITS, *TINY, "epochs=30", "checkpoint_every=7"]
    print("(b) kill points: train (synthetic data, 30 epochs, a checkpoint every 7 steps)", flush=True)
    started = lambda run_dir: lambda: list((base / run_dir).glob("config.yaml"))  # noqa: E731
    ran, busy = timed_baseline(["train", "--run-dir", "reference", *settings], base, started("reference"))
    if ran.code != 0:
        tally.add("kill + resume: train", "uninterrupted run", *classify(ran))
        return
    points = {
        "first last.pt appears": ("last", 0.0),
        "30 % of the training": ("config", 0.3),
        "75 % of the training": ("config", 0.75),
    }
    if quick:
        points = {"30 % of the training": ("config", 0.3)}
    for name, (watch, share) in points.items():
        run_dir = f"killed_{watch}_{int(share * 100)}"
        glob = "checkpoints/last.pt" if watch == "last" else "config.yaml"
        trigger = appeared(lambda d=run_dir, g=glob: list((base / d).glob(g)), share * busy)
        how = start_and_kill(["train", "--run-dir", run_dir, *settings], base, trigger)
        damaged = unreadable(base / run_dir)
        again = run(["train", "--run-dir", run_dir, "--resume", *settings], base)
        if again.code != 0:
            tally.add("kill + resume: train", name, *classify(again))
            continue
        differences = []
        for split in ("valid", "test"):
            expected = np.load(base / "reference" / "predictions" / f"{split}.npz")["scores"]
            got = np.load(base / run_dir / "predictions" / f"{split}.npz")["scores"]
            if expected.shape != got.shape or not np.array_equal(expected, got):
                gap = float(np.abs(expected - got).max()) if expected.shape == got.shape else float("inf")
                differences.append(f"{split} scores differ by up to {gap:.2e}")
        left = temporaries(base / run_dir)
        if damaged or differences:
            tally.add("kill + resume: train", name, "data_lost", f"{how}; damaged {damaged}; {differences}")
        elif left:
            tally.add("kill + resume: train", name, "other", f"{how}; scores identical, but left {left}")
        else:
            tally.add("kill + resume: train", name, "ok", f"{how}; valid and test scores bit-identical")


# --------------------------------------------------------------------------- (c) attacks
class _Payload:
    """Unpickling this runs ``open(marker, "w")``: what a planted checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def attack_pickles(world: World, tally: Tally, *, quick: bool) -> None:
    print("(c) attacks: pickle payloads in checkpoints", flush=True)
    base = _dir(world.work / "pickle")
    tone = str(next(world.tones.rglob("*.wav")))
    uses = {
        "predict --run": lambda run_dir: ["predict", "--run", str(run_dir), tone],
        "export --run": lambda run_dir: ["export", "--run", str(run_dir)],
        "audit missing --run": lambda run_dir: ["audit", "missing", "--run", str(run_dir), "--out", "a.csv"],
        "train --resume": lambda run_dir: [
            "train",
            "--run-dir",
            str(run_dir),
            "--resume",
            f"data.prepared={world.prepared}",
            *SPLITS,
            *TINY,
            "epochs=1",
        ],
    }
    if quick:
        uses = {k: uses[k] for k in ("predict --run", "train --resume")}
    for use, argv_of in uses.items():
        for planted in ("best.pt", "last.pt", "both"):
            slug = re.sub(r"\W+", "_", f"{use}_{planted}")
            run_dir = Path(shutil.copytree(world.run, base / slug))
            marker = base / f"{slug}.marker"
            for name in ("best.pt", "last.pt") if planted == "both" else (planted,):
                checkpoint = torch.load(
                    world.run / "checkpoints" / name, map_location="cpu", weights_only=True
                )
                checkpoint["extra"] = _Payload(marker)
                torch.save(checkpoint, run_dir / "checkpoints" / name)
            ran = run(argv_of(run_dir), base)
            if marker.exists():
                tally.add(
                    "attack: pickle checkpoint", f"{use}, payload in {planted}", "attack", "the payload ran"
                )
                continue
            outcome, detail = classify(ran)
            if planted == "last.pt" and use != "train --resume" and ran.code == 0:
                outcome, detail = "ok", "exit 0: the command reads best.pt, not last.pt; payload not run"
            tally.add("attack: pickle checkpoint", f"{use}, payload in {planted}", outcome, detail)


@dataclass
class Probe:
    name: str
    method: str
    path: str
    host: str | None = None  # None: the server's own address
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    allowed: tuple[int, ...] = (403, 404, 400)


def review_probes(clip: str) -> list[Probe]:
    decision = json.dumps(
        {
            "key": "k",
            "previous": [],
            "edits": [
                {"clip": clip, "class": "rain", "action": "add", "who": "x", "why": "attack", "time": "t"}
            ],
        }
    ).encode()
    json_type = {"Content-Type": "application/json"}
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    return [
        Probe("../ traversal", "GET", "/../secret.txt"),
        Probe("%2e%2e traversal", "GET", "/%2e%2e/secret.txt"),
        Probe("..%2f traversal", "GET", "/..%2fsecret.txt"),
        Probe("%2e%2e%2f traversal", "GET", "/%2e%2e%2fsecret.txt"),
        Probe("double-encoded traversal", "GET", "/%252e%252e/secret.txt"),
        Probe("backslash traversal", "GET", "/media/..%5c..%5csecret.txt"),
        Probe("NUL byte", "GET", "/secret.txt%00.png"),
        Probe("absolute path", "GET", "//SECRET_ABSOLUTE"),
        Probe("encoded absolute path", "GET", "/%2fSECRET_ABSOLUTE"),
        Probe("symlink out of the folder", "GET", "/media/link.txt"),
        Probe("hidden file", "GET", "/.hidden"),
        Probe("DNS rebinding: GET page", "GET", "/index.html", host="evil.example:PORT"),
        Probe("DNS rebinding: GET status", "GET", "/api/status", host="evil.example:PORT"),
        Probe("DNS rebinding: no Host header", "GET", "/index.html", host=""),
        Probe(
            "DNS rebinding: POST decision",
            "POST",
            "/api/decision",
            host="evil.example:PORT",
            headers={**json_type, "Origin": "http://evil.example:PORT"},
            body=decision,
        ),
        Probe(
            "cross-origin POST decision",
            "POST",
            "/api/decision",
            headers={**json_type, "Origin": "http://evil.example"},
            body=decision,
        ),
        Probe(
            "cross-origin POST, null origin",
            "POST",
            "/api/decision",
            headers={**json_type, "Origin": "null"},
            body=decision,
        ),
        Probe(
            "form POST (text/plain, no preflight)",
            "POST",
            "/api/decision",
            headers={"Content-Type": "text/plain"},
            body=decision,
            allowed=(403, 415, 400),
        ),
        Probe(
            "2 MB body",
            "POST",
            "/api/decision",
            headers=json_type,
            body=b"[" + b" " * (2 << 20) + b"]",
            allowed=(413,),
        ),
        Probe("100,000-deep JSON", "POST", "/api/decision", headers=json_type, body=deep, allowed=(400, 413)),
        Probe(
            "Range past the end", "GET", "/index.html", headers={"Range": "bytes=999999999-"}, allowed=(416,)
        ),
    ]


def send(port: int, probe: Probe, secret_path: Path) -> tuple[int, bytes]:
    path = probe.path.replace("SECRET_ABSOLUTE", str(secret_path).lstrip("/"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(probe.method, path, skip_host=True, skip_accept_encoding=True)
        host = f"127.0.0.1:{port}" if probe.host is None else probe.host.replace("PORT", str(port))
        if host:
            connection.putheader("Host", host)
        for name, value in probe.headers.items():
            connection.putheader(name, value.replace("PORT", str(port)))
        if probe.method == "POST":
            connection.putheader("Content-Length", str(len(probe.body)))
        connection.endheaders(probe.body if probe.method == "POST" else None)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as error:
        return -1, str(error).encode()
    finally:
        connection.close()


def attack_review_server(world: World, tally: Tally) -> None:
    print("(c) attacks: the review server", flush=True)
    category = "attack: review server"
    base = _dir(world.work / "server")
    tone_prepared = world.tone_prepared
    clip = str(read_labels(tone_prepared / "labels.csv").clip_ids[0])
    audit = base / "audit.csv"
    audit.write_text(
        f"rank,clip,class,suggestion,score,class_rank,model_score,top\n1,{clip},rain,add,0.9,1,0.9,\n"
    )
    secret = f"TOPSECRET-{os.urandom(6).hex()}"
    (base / "secret.txt").write_text(secret)
    page = base / "page"
    edits = base / "edits.csv"
    server = subprocess.Popen(
        [
            *earmark_command(),
            "review",
            str(audit),
            "--store",
            str(tone_prepared),
            "--out",
            str(page),
            "--serve",
            "--port",
            "0",
            "--edits",
            str(edits),
        ],
        cwd=base,
        env=command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        port = None
        assert server.stdout is not None
        deadline = time.monotonic() + 300
        for line in server.stdout:
            found = re.search(r"serving http://127\.0\.0\.1:(\d+)/", line)
            if found:
                port = int(found.group(1))
                break
            if time.monotonic() > deadline:
                break
        if port is None:
            tally.add(category, "start the server", "other", "no 'serving' line")
            return
        (page / ".hidden").write_text(secret)
        (page / "media").mkdir(exist_ok=True)
        (page / "media" / "link.txt").symlink_to(base / "secret.txt")
        for probe in review_probes(clip):
            before = edits.read_bytes() if edits.exists() else b""
            status, body = send(port, probe, base / "secret.txt")
            leaked = secret.encode() in body
            recorded = (edits.read_bytes() if edits.exists() else b"") != before
            if leaked or recorded or status == 200:
                what = (
                    "served the secret" if leaked else "recorded the decision" if recorded else "answered 200"
                )
                tally.add(category, probe.name, "attack", f"status {status}: {what}")
            elif status in probe.allowed:
                tally.add(category, probe.name, "named", f"refused with {status}")
            else:
                tally.add(category, probe.name, "other", f"status {status}: {body[:120]!r}")
        status, _ = send(port, Probe("still serving", "GET", "/index.html"), base / "secret.txt")
        if status != 200 or server.poll() is not None:
            tally.add(
                category, "server alive after the probes", "attack", f"status {status}: the server stopped"
            )
        else:
            tally.add(category, "server alive after the probes", "ok", "its own page still served (200)")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def formula_cells(folder: Path) -> list[str]:
    """Cells of the CSV files under ``folder`` a spreadsheet would run as formulas."""
    found = []
    for path in sorted(folder.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    if cell and cell[0] in "=+-@\t\r" and not _is_number(cell):
                        found.append(f"{path.name}: {cell[:40]!r}")
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def attack_formulas(world: World, tally: Tally, *, quick: bool) -> None:
    print("(c) attacks: formula cells in CSV outputs", flush=True)
    category = "attack: CSV formula cells"
    base = _dir(world.work / "formulas")
    prepared = Path(shutil.copytree(world.prepared, base / "prepared"))
    labels = read_labels(prepared / "labels.csv")
    renamed = type(labels)(
        clip_ids=labels.clip_ids,
        class_names=FORMULAS,
        positive=labels.positive,
        annotated=labels.annotated,
        source=labels.source,
        fold=labels.fold,
        duration_seconds=labels.duration_seconds,
    )
    write_labels(renamed, prepared / "labels.csv")
    hostile_ids = type(labels)(
        clip_ids=np.array([f"{FORMULAS[i % 4]}{i}" for i in range(len(labels.clip_ids))], dtype=object),
        class_names=FORMULAS,
        positive=labels.positive,
        annotated=labels.annotated,
        source=labels.source,
        fold=labels.fold,
        duration_seconds=labels.duration_seconds,
    )
    write_labels(hostile_ids, base / "hostile_labels.csv")
    audio = base / "audio"
    write_tone(audio / "=cmd" / "@SUM(1).wav", duration_seconds=0.5)
    write_tone(audio / "+rain" / "-2+3.wav", frequency_hz=900.0, duration_seconds=0.5)
    (base / "tags.txt").write_text("".join(f"{f}\n" for f in (*FORMULAS, "rock")))
    with (base / "clip_tags.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["clip_id", "tag"])
        writer.writerows([f"{formula}{i}", "rock"] for i, formula in enumerate(FORMULAS))
    (base / "vocabulary.csv").write_text("tag,category\nrock,genre\n")
    trained = run(
        ["train", "--run-dir", "run", f"data.prepared={prepared}", *SPLITS, *TINY, "epochs=1"], base
    )
    if trained.code != 0:
        tally.add(category, "train on formula class names", *classify(trained))
        return
    test_npz = str(base / "run" / "predictions" / "test.npz")
    commands = {
        "prepare (class folders and file names)": ["prepare", "folder", "--root", str(audio), "--out", "out"],
        "audit missing": ["audit", "missing", "--run", "../run", "--out", "audit.csv"],
        "predict --out tags.csv": ["predict", "--run", "../run", str(audio), "--out", "tags.csv"],
        "simulate missing": [
            "simulate",
            "missing",
            "--labels",
            "../hostile_labels.csv",
            "--out",
            "s.csv",
            "--rate",
            "0.3",
        ],
        "ensemble --out .csv": ["ensemble", test_npz, test_npz, "--out", "avg.csv"],
        "tags categorize": ["tags", "categorize", "../tags.txt", "--out", "categories.csv"],
        "tags collapse + to-labels": [
            "tags",
            "collapse",
            "../tags.txt",
            "--vocabulary",
            "../vocabulary.csv",
            "--method",
            "rules",
            "--out",
            "mapping.csv",
        ],
        "evaluate": [
            "evaluate",
            "--predictions",
            test_npz,
            "--labels",
            str(prepared / "labels.csv"),
            "--out",
            "eval",
            "--no-plots",
            "--bootstrap",
            "0",
        ],
    }
    if quick:
        commands = {k: commands[k] for k in ("audit missing", "predict --out tags.csv")}
    for name, argv in commands.items():
        folder = _dir(base / re.sub(r"\W+", "_", name))
        ran = run(argv, folder)
        if name == "tags collapse + to-labels" and ran.code == 0:
            ran = run(
                [
                    "tags",
                    "to-labels",
                    "../clip_tags.csv",
                    "--mapping",
                    "mapping.csv",
                    "--out",
                    "l.csv",
                    "--keep-empty",
                ],
                folder,
            )
        if ran.code != 0:  # the case could not be tried: not a defence
            tally.add(category, name, "other", f"the command failed: {classify(ran)[1]}")
            continue
        cells = formula_cells(folder)
        if cells:
            tally.add(category, name, "attack", f"{len(cells)} formula cells, e.g. {cells[0]}")
        else:
            tally.add(category, name, "ok", "every text cell escaped")


# --------------------------------------------------------------------------- report
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}"
    )


def report(tally: Tally, *, command: str, seconds: float) -> str:
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (
        f"Measured {when} on {machine()}, in {seconds / 60:.1f} min, with\n\n"
        f"```sh\n{command}\n```\n\n{tally.table()}\n"
        "Cases that were not a named error, lost data or let an attack through:\n\n"
        f"{tally.failures()}"
    )


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{BEGIN}\n{section}{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = f"{head}{block}{tail}"
    else:
        text = f"{text.rstrip()}\n\n{block}" if text else block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a subset of every category (a few minutes)")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPOSITORY / "docs" / "RELIABILITY.md",
        help="Markdown file whose reliability section is replaced",
    )
    parser.add_argument("--no-write", action="store_true", help="only print the table")
    parser.add_argument("--jobs", type=int, default=2, help="bad-input cases run at once")
    parser.add_argument(
        "--launcher",
        choices=("fork", "exec"),
        default="fork",
        help="fork: cases forked from a process that imported earmark.cli once (fast); exec: the "
        "console script started anew per case. Kill points and the server always start the script",
    )
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument(
        "--only", choices=("bad", "kill", "attack"), action="append", help="run only these parts (repeatable)"
    )
    args = parser.parse_args(argv)
    parts = set(args.only or ("bad", "kill", "attack"))
    global LAUNCHER
    forks = ForkLauncher() if args.launcher == "fork" else None
    LAUNCHER = forks or run_exec
    started = time.perf_counter()
    tally = Tally()
    work = args.work or Path(tempfile.mkdtemp(prefix="earmark-reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f"fixtures in {work}", flush=True)
        world = build_world(work)
        steps: list[tuple[str, Callable[[], None]]] = [
            ("bad", lambda: run_bad_inputs(world, tally, quick=args.quick, jobs=args.jobs)),
            ("kill", lambda: kill_prepare(world, tally, quick=args.quick)),
            ("kill", lambda: kill_train(world, tally, quick=args.quick)),
            ("attack", lambda: attack_pickles(world, tally, quick=args.quick)),
            ("attack", lambda: attack_review_server(world, tally)),
            ("attack", lambda: attack_formulas(world, tally, quick=args.quick)),
        ]
        for part, step in steps:
            if part in parts:
                began = time.perf_counter()
                step()
                print(f"    ({time.perf_counter() - began:.0f} s)", flush=True)
    finally:
        if forks is not None:
            forks.close()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    shown = " ".join(["nice -n 19 .venv/bin/python benchmarks/reliability.py", *(argv or sys.argv[1:])])
    section = report(tally, command=shown, seconds=time.perf_counter() - started)
    print("\n" + section)
    if not args.no_write:
        write_section(args.out, section)
        print(f"wrote the table into {args.out}")


if __name__ == "__main__":
    main()
