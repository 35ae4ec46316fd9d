"""The skip policy, in a pytest run of its own: a skip fails it under BENCH_FAIL_ON_SKIP=1
unless allowed, and only then."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.skip_policy import ALLOWED_SKIPS

TESTS = """
import pytest

def test_runs():
    assert True

@pytest.mark.skipif(True, reason="no cluster here")
def test_needs_a_cluster():
    pass
"""


def _run(tmp_path, enforce: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(TESTS)
    env = {**os.environ, "PYTHONPATH": str(REPO), "BENCH_FAIL_ON_SKIP": "1" if enforce else "0"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.skip_policy", "-p", "no:cacheprovider",
                           str(tmp_path / "test_sample.py")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.subprocess
def test_a_skip_fails_ci_unless_allowed(tmp_path):
    enforced = _run(tmp_path, enforce=True)
    assert enforced.returncode == 1, enforced.stdout
    assert "test_sample.py::test_needs_a_cluster: no cluster here" in enforced.stdout
    assert _run(tmp_path, enforce=False).returncode == 0


def test_allowed_skips_have_reasons():
    assert all(len(reason) >= 10 for reason in ALLOWED_SKIPS.values())


@pytest.mark.parametrize("nodeid,allowed", [("a::b", True), ("a::b[x]", True), ("a::bc", False)])
def test_an_entry_matches_its_test_and_its_parameters_only(monkeypatch, nodeid, allowed):
    from tests import skip_policy

    monkeypatch.setattr(skip_policy, "ALLOWED_SKIPS", {"a::b": "an example reason"})
    assert skip_policy._allowed(nodeid) is allowed
