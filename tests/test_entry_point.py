"""The entry point as a user types it: `python benchmark/run.py` (the design card's command),
`python -m benchmark.run` and the console script `prb-run` start the same Hydra app, from the
installed package, with no change to `sys.path` or the environment at import."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SPELLINGS = {
    "script": [sys.executable, str(REPO / "benchmark" / "run.py")],
    "module": [sys.executable, "-m", "benchmark.run"],
    "console script": [str(Path(sys.executable).with_name("prb-run"))],
}


@pytest.mark.subprocess
@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_each_spelling_of_the_entry_point_composes_the_suites_config(spelling, tmp_path):
    command = SPELLINGS[spelling]
    if spelling == "console script":
        assert Path(command[0]).exists(), "prb-run is not installed: make install (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the package as installed, nothing else
    done = subprocess.run([*command, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "== Configuration groups ==" in done.stdout and "schedule: " in done.stdout
    assert "mode: run" in done.stdout, "the config composed from conf/config.yaml and the schemas"


def test_the_console_script_is_the_entry_points_cli():
    from benchmark.run import cli

    (script,) = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "prb-run"]
    assert script.value == "benchmark.run:cli" and script.load() is cli


def test_importing_the_entry_point_changes_neither_sys_path_nor_the_environment():
    import benchmark.run

    before = (list(sys.path), os.environ.get("PYTHONPATH"))
    importlib.reload(benchmark.run)
    assert (list(sys.path), os.environ.get("PYTHONPATH")) == before


def test_no_module_of_the_package_shadows_one_python_could_import():
    """`python benchmark/run.py` puts benchmark/ itself first on sys.path, so a module there named
    like a standard or installed one (`data`, `distributed`) would shadow it for every import."""
    names = {p.stem for p in (REPO / "benchmark").iterdir()
             if p.stem != "__init__" and (p.suffix == ".py" or (p / "__init__.py").exists())}
    taken = set(sys.stdlib_module_names) | set(importlib.metadata.packages_distributions())
    assert not names & taken
