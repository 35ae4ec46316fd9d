"""CI fails on a skipped test unless the skip is allowed here, with its reason.

CI has the CIFAR-10 archive (``../shared/data``), the paper (``../shared/paper.md``), a Slurm
cluster and ``wandb leet``, so none of its tests should skip: a skip there means a test that
silently stopped testing. ``.ci/run`` sets ``BENCH_FAIL_ON_SKIP=1``; elsewhere (a laptop
without Slurm) skips stay skips. Loaded by ``tests/conftest.py``; a plugin module of its own so
that its test can load it into a separate pytest run (``-p tests.skip_policy``).
"""

from __future__ import annotations

import os
from typing import Dict

# Test node id (or a prefix of it) -> why CI may skip it. Keep it short, and justify each entry.
ALLOWED_SKIPS: Dict[str, str] = {}


def _allowed(nodeid: str) -> bool:
    return any(nodeid == key or nodeid.startswith(key + "[") for key in ALLOWED_SKIPS)


def pytest_sessionfinish(session, exitstatus) -> None:
    if os.environ.get("BENCH_FAIL_ON_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    refused = [report for report in skipped if not _allowed(report.nodeid)]
    if not refused:
        return
    lines = [f"{len(refused)} test(s) skipped without an entry in tests/skip_policy.py ALLOWED_SKIPS:"]
    for report in refused:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        lines.append(f"  {report.nodeid}: {reason.removeprefix('Skipped: ')}")
    if reporter is not None:
        reporter.write_line("")
        reporter.write_line("\n".join(lines), red=True)
    session.exitstatus = 1
