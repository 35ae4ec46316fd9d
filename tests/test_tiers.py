"""The test tiers stay honest: a test that trains a whole cell or starts a process carries the
marker that says so, so `make test-fast` never runs it (tests/README.md).

Read from the source, not run: a test reaches ``run_cell`` or the ``subprocess`` and
``multiprocessing`` modules through its own body, its fixtures, and the helpers of its module,
of ``tests/conftest.py`` and of the test modules it imports from. A call inside
``pytest.raises`` is an input refused before any training, which needs no marker. What a test
reaches only through the package (``benchmark.speed.bench`` spawning its cases, a W&B service)
is marked by hand; this test is a net for the common cases, not a proof.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, Set, Tuple

import pytest

TESTS = Path(__file__).resolve().parent
NEEDS = {"run_cell": "cell", "subprocess": "subprocess", "multiprocessing": "subprocess"}
MARK = re.compile(r"\bmark\.(\w+)")


@lru_cache(maxsize=None)
def _module(name: str) -> Tuple[Dict[str, ast.AST], Dict[str, Tuple[str, str]], ast.Module]:
    """A test module's top-level functions and assignments, and the names it imports from tests."""
    tree = ast.parse((TESTS / f"{name}.py").read_text())
    defs = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    defs |= {target.id: node for node in tree.body if isinstance(node, ast.Assign)
             for target in node.targets if isinstance(target, ast.Name)}
    imported = {alias.asname or alias.name: (node.module.removeprefix("tests."), alias.name)
                for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests.")
                for alias in node.names}
    return defs, imported, tree


def _names(node: ast.AST) -> Set[str]:
    """Names and attributes a function uses, its parameters (fixtures) included, outside
    ``pytest.raises`` blocks and its own decorators."""
    found: Set[str] = set()
    stack = list(node.body) + list(node.args.args) if isinstance(node, ast.FunctionDef) else [node]
    while stack:
        child = stack.pop()
        if isinstance(child, ast.With) and any("raises" in ast.unparse(item.context_expr) for item in child.items):
            continue
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
        elif isinstance(child, ast.arg):
            found.add(child.arg)
        stack.extend(ast.iter_child_nodes(child))
    return found


def reached(module: str, name: str, seen: Set[Tuple[str, str]] | None = None) -> Set[str]:
    """Every name ``module.name`` uses, through the helpers and fixtures it reaches."""
    seen = set() if seen is None else seen
    defs, imported, _ = _module(module)
    if (module, name) in seen or name not in defs:
        return set()
    seen.add((module, name))
    names = _names(defs[name])
    found = set(names)
    for used in names:
        if used in defs:
            found |= reached(module, used, seen)
        elif used in imported:
            found |= reached(*imported[used], seen)
        elif module != "conftest":
            found |= reached("conftest", used, seen)
    return found


def marks(module: str, test: ast.FunctionDef) -> Set[str]:
    """The markers on a test: its decorators (a decorator defined in the module counts by its
    source) and the module's ``pytestmark``."""
    defs, _, _ = _module(module)
    text = [ast.unparse(decorator) for decorator in test.decorator_list]
    text += [ast.unparse(defs[name]) for decorator in test.decorator_list
             for name in _names(decorator) if name in defs]
    if "pytestmark" in defs:
        text.append(ast.unparse(defs["pytestmark"]))
    return {mark for source in text for mark in MARK.findall(source)}


def _tests():
    for path in sorted(TESTS.glob("test_*.py")):
        defs, _, _ = _module(path.stem)
        for name, node in defs.items():
            if name.startswith("test_") and isinstance(node, ast.FunctionDef):
                yield path.stem, node


def test_every_test_that_trains_a_cell_or_starts_a_process_is_marked():
    missing = []
    for module, test in _tests():
        needed = {NEEDS[name] for name in reached(module, test.name) if name in NEEDS}
        for marker in sorted(needed - marks(module, test)):
            missing.append(f"tests/{module}.py::{test.name} needs @pytest.mark.{marker}")
    assert not missing, "\n".join(missing)


def test_the_net_sees_a_helper_a_fixture_and_an_exemption(tmp_path, monkeypatch):
    """The analysis itself, on a module written here: a helper's subprocess, a fixture's cell,
    and a refused input inside pytest.raises."""
    monkeypatch.setattr(f"{__name__}.TESTS", tmp_path)
    _module.cache_clear()
    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "test_sample.py").write_text(
        "import subprocess\nimport pytest\n"
        "def _cli():\n    return subprocess.run(['true'])\n"
        "@pytest.fixture\ndef record(tmp_path):\n    return run_cell(None, tmp_path)\n"
        "def test_cli():\n    _cli()\n"
        "@pytest.mark.cell\ndef test_record(record):\n    pass\n"
        "def test_refused():\n    with pytest.raises(ValueError):\n        run_cell(None, None)\n")
    try:
        found = {test.name: ({NEEDS[n] for n in reached("test_sample", test.name) if n in NEEDS},
                             marks("test_sample", test)) for _, test in _tests()}
    finally:
        _module.cache_clear()
    assert found == {"test_cli": ({"subprocess"}, set()), "test_record": ({"cell"}, {"cell"}),
                     "test_refused": (set(), set())}


@pytest.mark.parametrize("marker", ["cell", "sweep", "subprocess", "slurm", "cifar", "compile"])
def test_make_test_fast_deselects_every_registered_marker(marker):
    makefile = (TESTS.parent / "Makefile").read_text()
    pyproject = (TESTS.parent / "pyproject.toml").read_text()
    heavy = re.search(r"^HEAVY = (.*)$", makefile, re.M).group(1).split(" or ")
    assert marker in heavy and f'"{marker}: ' in pyproject
