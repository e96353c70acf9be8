"""Strategies sit below training: no module of ``earmark.strategies`` imports a package above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import earmark.strategies

# the packages strategies feed (the data flow: ... → strategies → training → runs → pipeline → cli)
ABOVE = (
    "earmark.training",
    "earmark.runs",
    "earmark.pipeline",
    "earmark.cli",
    "earmark.review",
    "earmark.tuning",
)
PACKAGE = Path(earmark.strategies.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def imported_modules(source: str, package: str) -> set[str]:
    """Every name imported by ``source`` (a module of ``package``), top-level or local, made absolute."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def upward(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == a or n.startswith(f"{a}.") for a in ABOVE))


def test_the_walk_sees_local_and_relative_imports():
    source = "import torch.nn\ndef f():\n    from earmark.runs import load_run\nfrom ..base import Strategy\n"
    names = imported_modules(source, "earmark.strategies.components")
    assert names == {"torch.nn", "earmark.runs.load_run", "earmark.strategies.base.Strategy"}
    assert upward(names) == ["earmark.runs.load_run"]
    assert upward(imported_modules("import earmark.training.trainer as t\n", "earmark.strategies")) == [
        "earmark.training.trainer"
    ]


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_no_strategy_module_imports_upward(path):
    package = ".".join(("earmark", *path.relative_to(PACKAGE.parent).parent.parts))
    found = upward(imported_modules(path.read_text(encoding="utf-8"), package))
    assert not found, f"{path.relative_to(PACKAGE)} imports {', '.join(found)}"
