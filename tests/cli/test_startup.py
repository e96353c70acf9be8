"""The light commands start without torch: ``--help``, ``info``, ``list``, ``write-default-config``.

Each command runs in a fresh interpreter (torch, once imported, stays in ``sys.modules``), which
then reports whether torch was imported.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import earmark
from earmark.cli import app
from earmark.testing import write_tone

RUN = """
import json, sys
from earmark.cli import main
sys.argv = ["earmark", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code or 0
print(json.dumps({"code": code, "torch": "torch" in sys.modules}), file=sys.stderr)
"""


def run_fresh(*args: str) -> dict[str, object]:
    """Run ``earmark ARGS`` in a new interpreter; its exit code and whether torch was imported."""
    done = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(list(args))], capture_output=True, text=True, timeout=300
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("startup")
    for label in range(2):
        for index in range(3):
            write_tone(root / "audio" / f"{label}_a_{index}.wav", duration_seconds=0.2, sample_rate=8000)
    result = CliRunner().invoke(
        app,
        [
            "prepare",
            "files",
            "--root",
            str(root / "audio"),
            "--out",
            str(root / "prepared"),
            "--set",
            r"pattern=^(?P<label>\d)_",
            "--frontend-set",
            "n_mels=8",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    return root / "prepared"


def test_info_on_a_prepared_directory_imports_no_torch(prepared):
    assert run_fresh("info", str(prepared), "--classes") == {"code": 0, "torch": False}


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["prepare", "files", "--help"],
        ["list"],
        ["list", "loaders"],
        ["list", "models", "cnn"],
        ["write-default-config", "-", "--kind", "prepare", "files"],
        ["write-default-config", "-", "--kind", "train", "attention_mil", "--strategy", "mean_teacher"],
        ["write-default-config", "-", "--kind", "pipeline", "filter"],
        ["tags", "--help"],
    ],
)
def test_light_commands_import_no_torch(args):
    assert run_fresh(*args) == {"code": 0, "torch": False}


def test_the_lazy_exports_match_their_typed_imports():
    """Every name of ``earmark._EXPORTS`` is imported for type checkers from the same module."""
    tree = ast.parse(Path(earmark.__file__).read_text(encoding="utf-8"))
    typed = {
        alias.asname or alias.name: node.module
        for block in tree.body
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == earmark._EXPORTS
    for name in earmark.__all__:
        assert getattr(earmark, name) is not None
