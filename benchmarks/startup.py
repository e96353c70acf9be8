"""Start-up cost of ``earmark`` commands beside ``python -c pass`` and ``import torch``.

Each command runs ``--repeats`` times in a fresh interpreter, round-robin with the others (this
machine's load drifts); the table gives the median CPU seconds (user + system of the child, the
figure a loaded machine does not inflate much) and the median wall seconds. ``info`` reads a
tiny prepared directory built first from synthetic tones.

    python benchmarks/startup.py [--repeats 5] [--before SRC]

``--before SRC`` also times each command with another copy of earmark's ``src`` on the path
(for example the commit before the lazy imports, ``git archive 96b0e15 src | tar -x -C /tmp/old``
then ``--before /tmp/old/src``); a command that copy does not have is marked n/a. Prints a
markdown table.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass", ["-c", "pass"]),
    ("python -c 'import torch' (what every command paid before)", ["-c", "import torch"]),
    ("earmark --help", ["-m", "earmark", "--help"]),
    ("earmark info PREPARED", ["-m", "earmark", "info", "{prepared}"]),
    ("earmark list models", ["-m", "earmark", "list", "models"]),
    ("earmark prepare files --help", ["-m", "earmark", "prepare", "files", "--help"]),
    (
        "earmark write-default-config - --kind train",
        ["-m", "earmark", "write-default-config", "-", "--kind", "train"],
    ),
    ("earmark tags --help", ["-m", "earmark", "tags", "--help"]),
    ("earmark train --help", ["-m", "earmark", "train", "--help"]),
]


def build_prepared(folder: Path) -> Path:
    """A prepared directory of six 0.2 s tones (the `files` layout)."""
    from earmark.testing import write_tone

    for label in range(2):
        for index in range(3):
            write_tone(folder / "audio" / f"{label}_a_{index}.wav", duration_seconds=0.2, sample_rate=8000)
    prepared = folder / "prepared"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "earmark",
            "prepare",
            "files",
            "--root",
            str(folder / "audio"),
            "--out",
            str(prepared),
            "--set",
            r"pattern=^(?P<label>\d)_",
            "--quiet",
        ],
        check=True,
        capture_output=True,
    )
    return prepared


def run_once(args: list[str], source: str | None = None) -> tuple[float, float] | None:
    """CPU seconds (user + system) and wall seconds of one child process (None if it failed)."""
    env = {**os.environ, "COLUMNS": "100"}
    if source is not None:
        env["PYTHONPATH"] = source
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], capture_output=True, env=env, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        if source is None:
            raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode()[-500:]}")
        return None
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", help="another earmark src folder to time the same commands with")
    options = parser.parse_args()
    sources = {"now": None, "before": options.before} if options.before else {"now": None}
    with tempfile.TemporaryDirectory() as scratch:
        prepared = build_prepared(Path(scratch))
        commands = [(name, [a.format(prepared=prepared) for a in args]) for name, args in COMMANDS]
        cpu: dict[tuple[str, str], list[float]] = {(n, s): [] for n, _ in commands for s in sources}
        wall: dict[tuple[str, str], list[float]] = {(n, s): [] for n, _ in commands for s in sources}
        for _ in range(options.repeats):
            for name, args in commands:
                for which, source in sources.items():
                    timed = run_once(args, source)
                    if timed is not None:
                        cpu[name, which].append(timed[0])
                        wall[name, which].append(timed[1])
    print(f"{options.repeats} runs each, medians; Python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    header = "| command | CPU s | wall s |"
    if options.before:
        header += " CPU s before | wall s before |"
    print(header)
    print("|---" + "|---:" * (header.count("|") - 2) + "|")
    for name, _ in commands:
        row = f"| `{name}` | {_median(cpu[name, 'now'])} | {_median(wall[name, 'now'])} |"
        if options.before:
            row += f" {_median(cpu[name, 'before'])} | {_median(wall[name, 'before'])} |"
        print(row)


if __name__ == "__main__":
    main()
