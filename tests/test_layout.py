"""The package layout: at most 20 top-level modules, no import cycles, imports only run downwards."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

from tests.conftest import REPO

PACKAGE = REPO / "benchmark"
ENGINE = {"benchmark.cell", "benchmark.stages", "benchmark.plan", "benchmark.train", "benchmark.run"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> Dict[str, Set[str]]:
    """Every benchmark module -> the benchmark modules it imports (anywhere in its body, lazy ones too)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: Dict[str, Set[str]] = {}
    for name, path in modules.items():
        found: Set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_at_most_twenty_top_level_modules():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 20, top


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Import cycles found by depth-first search; a package's edges to its own submodules are not
    followed (Python runs a package's ``__init__`` before any submodule either way)."""
    state: Dict[str, str] = {}
    found: List[List[str]] = []

    def visit(node: str, path: List[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def test_no_import_cycles_among_benchmark_modules():
    assert cycles(imports()) == []


def test_the_cycle_search_finds_a_cycle_and_its_path():
    graph = {"p": {"p.a"}, "p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}}
    assert cycles(graph) == [["p.a", "p.b", "p.c", "p.a"]]
    assert cycles({"p": {"p.a", "p.b"}, "p.a": set(), "p.b": {"p.a"}}) == []


def test_the_parts_never_import_the_engine():
    """retraining/ and pruning/ sit below the engine (docs/extending.md, "The layers")."""
    graph = imports()
    for name, targets in graph.items():
        if name.startswith(("benchmark.retraining", "benchmark.pruning")):
            assert not targets & ENGINE, f"{name} imports {sorted(targets & ENGINE)}"


def test_the_layout_test_sees_real_imports():
    graph = imports()
    assert "benchmark.train" in graph["benchmark.cell"] and "benchmark.pruning.gradual" in graph["benchmark.pruning"]
    assert "benchmark.pruning.allocation" in graph["benchmark.pruning.unstructured"]
