"""The package order is the data flow: no import cycle between modules, no import upward.

Every ``import`` and ``from ... import`` in every module under ``src/earmark`` counts, function-local
and ``TYPE_CHECKING`` ones included (a function-local import hides a cycle from the interpreter,
not from the design). Importing ``earmark.a.b`` also imports the package ``earmark.a``, so that
edge counts too (except towards the importer's own packages, which Python has already started).
"""

from __future__ import annotations

import ast
import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src"
ROOT = "earmark"

# Lowest first. A module may import its own package, any package of its own layer and any
# package of a lower layer; never one of a higher layer (and two packages of one layer may not
# import each other both ways). A top-level module or package missing here fails the test: give
# it a layer when adding it.
LAYERS: tuple[tuple[str, ...], ...] = (
    # foundation: no data flow
    ("errors", "io", "config", "registry", "batch", "inference", "metrics", "events"),
    # signal level: audio decoding, front-ends, the feature store (imports nothing above config);
    # the loaders below read audio suffixes and describe precomputed embeddings with its configs
    ("features",),
    ("data", "tags"),
    ("audit",),  # label quality: pure functions over labels and scores (cleanlab's rank/filter)
    ("spec", "predictions", "ensemble", "prepare", "testing", "thresholds", "merge"),
    ("models", "augment"),
    ("strategies",),
    ("plots", "report"),
    ("training",),
    ("runs", "export", "streaming", "tuning", "timeline"),
    ("pipeline",),
    ("study",),  # remedies compared: trains through training and pipeline, scores with metrics
    ("review", "cli", "__main__", "api", ROOT),  # ROOT is earmark/__init__.py, the public API
)

# Known violations that other changes are removing: (importer, imported) modules, by reason.
# Delete an entry when its import is gone; a stale entry fails the test too.
ALLOWED: Mapping[str, frozenset[tuple[str, str]]] = {}


@dataclasses.dataclass(frozen=True)
class Import:
    """One import edge: ``importer`` imports ``imported`` on ``line``."""

    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} (line {self.line})"


def _modules(source: Path = SOURCE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the ``earmark`` package."""
    modules = {}
    for path in sorted((source / ROOT).rglob("*.py")):
        parts = path.relative_to(source).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module (``earmark.a.b.Class`` -> ``earmark.a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """The dotted names ``node`` imports, relative imports resolved against ``module``."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - node.level + 1]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    for alias in node.names:
        yield f"{base}.{alias.name}"  # a submodule when one exists, else a name in ``base``


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def collect_imports(modules: Mapping[str, Path]) -> list[Import]:
    """Every import edge between two ``earmark`` modules, implicit parent packages included."""
    edges: set[Import] = set()
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        own = {module, *_ancestors(module)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _targets(node, module, _is_package(path)):
                target = _known(name, modules)
                if target is None or not target.startswith(ROOT):
                    continue
                for imported in (*_ancestors(target), target):
                    if imported not in own:
                        edges.add(Import(module, imported, node.lineno))
    return sorted(edges, key=lambda edge: (edge.importer, edge.imported, edge.line))


def top_level(module: str) -> str:
    """The top-level part of ``earmark`` that ``module`` belongs to (``ROOT`` for the root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def layer_of(part: str, layers: Iterable[tuple[str, ...]] = LAYERS) -> int:
    """The index of ``part``'s layer; a part without one raises ``KeyError``."""
    for index, members in enumerate(layers):
        if part in members:
            return index
    raise KeyError(f"earmark.{part} has no layer in LAYERS (tests/test_layering.py); add it")


def upward_imports(edges: Iterable[Import]) -> list[Import]:
    """The edges from a lower layer to a higher one."""
    return [edge for edge in edges if layer_of(top_level(edge.importer)) < layer_of(top_level(edge.imported))]


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _graph(edges: Iterable[Import]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        graph[edge.importer].add(edge.imported)
    return graph


def _package_graph(edges: Iterable[Import]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        source, target = top_level(edge.importer), top_level(edge.imported)
        if source != target and ROOT not in (source, target):
            graph[source].add(target)
    return graph


def _allowed() -> frozenset[tuple[str, str]]:
    return frozenset().union(*ALLOWED.values())


@pytest.fixture(scope="module")
def edges() -> list[Import]:
    return collect_imports(_modules())


@pytest.fixture(scope="module")
def checked(edges: list[Import]) -> list[Import]:
    """The edges not in the allow-list."""
    allowed = _allowed()
    return [edge for edge in edges if (edge.importer, edge.imported) not in allowed]


def test_every_top_level_part_has_a_layer() -> None:
    parts = sorted({top_level(module) for module in _modules()})
    missing = [part for part in parts if not any(part in members for members in LAYERS)]
    assert not missing, f"give these a layer in LAYERS: {missing}"
    unknown = [part for members in LAYERS for part in members if part not in parts]
    assert not unknown, f"LAYERS names parts that no longer exist: {unknown}"


def test_no_import_cycle_between_modules(checked: list[Import]) -> None:
    found = cycles(_graph(checked))
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in found)


def test_no_import_loop_between_packages(checked: list[Import]) -> None:
    found = cycles(_package_graph(checked))
    lines = [
        f"{' <-> '.join(loop)}: "
        + ", ".join(
            str(e)
            for e in checked
            if {top_level(e.importer), top_level(e.imported)} <= set(loop)
            and top_level(e.importer) != top_level(e.imported)
        )
        for loop in found
    ]
    assert not found, "package loops:\n" + "\n".join(lines)


def test_no_upward_import(checked: list[Import]) -> None:
    upward = upward_imports(checked)
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(map(str, upward))


def test_allow_list_is_not_stale(edges: list[Import]) -> None:
    present = {(edge.importer, edge.imported) for edge in edges}
    stale = sorted(_allowed() - present)
    assert not stale, f"these allowed imports are gone; delete them from ALLOWED: {stale}"


# ------------------------------------------------------------------ the checker itself
def _write(root: Path, files: Mapping[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return _modules(root)


def test_collect_sees_function_local_relative_and_parent_imports(tmp_path: Path) -> None:
    modules = _write(
        tmp_path,
        {
            "__init__.py": "",
            "pipeline/__init__.py": "",
            "pipeline/runner.py": "def run():\n    from earmark.pipeline import execute\n",
            "pipeline/execute.py": "from .filtering import keep\n",
            "pipeline/filtering.py": "from . import runner\nkeep = 1\n",
            "features/__init__.py": "",
            "features/store.py": "from earmark.data.labels import Labels\n",
            "data/__init__.py": "",
            "data/labels.py": "class Labels: ...\n",
        },
    )
    edges = {(e.importer, e.imported) for e in collect_imports(modules)}
    assert ("earmark.pipeline.runner", "earmark.pipeline.execute") in edges
    assert ("earmark.pipeline.execute", "earmark.pipeline.filtering") in edges
    assert ("earmark.pipeline.filtering", "earmark.pipeline.runner") in edges
    assert ("earmark.features.store", "earmark.data") in edges  # the package's __init__ runs
    assert ("earmark.features.store", "earmark.data.labels") in edges
    assert ("earmark.pipeline.runner", "earmark.pipeline") not in edges  # its own package
    graph = _graph(collect_imports(modules))
    assert cycles(graph) == [
        ["earmark.pipeline.execute", "earmark.pipeline.filtering", "earmark.pipeline.runner"]
    ]
    upward = upward_imports(collect_imports(modules))
    assert {(e.importer, e.imported) for e in upward} == {
        ("earmark.features.store", "earmark.data"),
        ("earmark.features.store", "earmark.data.labels"),
    }


def test_package_loops_are_found() -> None:
    edges = [
        Import("earmark.features.store", "earmark.spec", 1),
        Import("earmark.spec", "earmark.features", 2),
    ]
    assert cycles(_package_graph(edges)) == [["features", "spec"]]


def test_a_part_without_a_layer_is_reported() -> None:
    with pytest.raises(KeyError, match=r"earmark\.newthing has no layer"):
        layer_of("newthing")
