"""The package layout: at most 20 top-level modules, no import cycles, imports only run downwards.

Two graphs are checked. Modules: no cycles. Packages (each ``benchmark.X.*`` collapsed to
``benchmark.X``, lazy imports included): every edge points to the same or a lower layer of
:data:`LAYERS`, and no cycles, which is what docs/extending.md's layer diagram says.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

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


# The layers, lowest first; a package may import its own layer or a lower one (docs/extending.md).
LAYERS = {
    "foundation": {"errors", "progress", "fields", "sources", "artefacts", "device", "distributed",
                   "environment", "fastpath", "identity", "records", "tracking"},
    "parts": {"data", "models", "pruning", "retraining", "lm"},
    "config": {"schema"},  # the whole cell's config, composed of the parts' own schemas
    "tasks": {"tasks"},
    "engine": {"validation", "preparation", "train", "stages", "cell", "plan"},
    "tools": {"launch", "speed", "report", "run"},
}


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def layer_of(package: str) -> int:
    name = package.split(".")[1]
    for rank, members in enumerate(LAYERS.values()):
        if name in members:
            return rank
    raise AssertionError(f"{package} is in no layer of LAYERS: add it where it belongs (docs/extending.md)")


def package_edges(graph: Dict[str, Set[str]]) -> Dict[Tuple[str, str], Set[Tuple[str, str]]]:
    """(package, package) -> the module edges behind it; the package root ``benchmark`` left out."""
    edges: Dict[Tuple[str, str], Set[Tuple[str, str]]] = {}
    for source, targets in graph.items():
        for target in targets:
            a, b = package_of(source), package_of(target)
            if a != b and "." in a and "." in b:
                edges.setdefault((a, b), set()).add((source, target))
    return edges


def upward(graph: Dict[str, Set[str]]) -> Set[Tuple[str, str]]:
    """(module, package) pairs where a module imports a package of a higher layer."""
    return {(source, package_of(target)) for (a, b), pairs in package_edges(graph).items()
            if layer_of(b) > layer_of(a) for source, target in pairs}


def test_packages_import_only_their_layer_or_lower():
    found = upward(imports())
    assert found == set(), f"imports running up the layers: {sorted(found)}"


def test_no_import_cycles_among_packages():
    packages: Dict[str, Set[str]] = {}
    for a, b in package_edges(imports()):
        packages.setdefault(a, set()).add(b)
        packages.setdefault(b, set())
    assert cycles(packages) == []


def test_the_package_check_catches_an_upward_import():
    graph = {"benchmark.data.cifar": {"benchmark.cell"}, "benchmark.cell": {"benchmark.data"}, "benchmark.data": set()}
    assert upward(graph) == {("benchmark.data.cifar", "benchmark.cell")}
    assert layer_of("benchmark.report") > layer_of("benchmark.cell") > layer_of("benchmark.tasks") > layer_of("benchmark.lm")
    assert layer_of("benchmark.tasks") > layer_of("benchmark.schema") > layer_of("benchmark.data") > layer_of("benchmark.fields")


def test_the_layout_test_sees_real_imports():
    graph = imports()
    assert "benchmark.train" in graph["benchmark.cell"] and "benchmark.pruning.gradual" in graph["benchmark.pruning"]
    assert "benchmark.pruning.allocation" in graph["benchmark.pruning.unstructured"]


# Each config group's schemas live with the code that reads them (issue 28): the parts' own
# ``schema.py`` modules, composed into the whole cell's config by benchmark/schema.py.
GROUP_HOMES = {
    "dataset": {"benchmark.data.schema", "benchmark.lm.schema"},
    "model": {"benchmark.models.schema", "benchmark.lm.schema"},
    "pruner": {"benchmark.pruning.schema", "benchmark.lm.schema"},
    "recipe": {"benchmark.retraining.schema"},
    "schedule": {"benchmark.retraining.schema"},
    "budget": {"benchmark.retraining.schema"},
    "distill": {"benchmark.retraining.schema"},
    "seed": {"benchmark.schema"},
}


def test_each_group_s_schemas_live_with_its_code():
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from benchmark.schema import register_configs

    register_configs()
    repo = ConfigStore.instance().repo
    seen = {}
    for group, homes in GROUP_HOMES.items():
        for name, node in repo[group].items():
            module = OmegaConf.get_type(node.node).__module__
            seen[f"{group}/{name}"] = module
            assert module in homes, f"{group}/{name} is defined in {module}, not with its group's code ({sorted(homes)})"
    assert len(seen) >= 29 and {"benchmark.lm.schema", "benchmark.data.schema"} <= set(seen.values())
