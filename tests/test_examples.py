"""The documented bring-your-own-method sweep, run exactly as docs/bring_your_own_method.md shows it."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.conftest import REPO

DOC = REPO / "docs" / "bring_your_own_method.md"


def documented_command() -> str:
    """The bash block that follows the ``<!-- byom-sweep -->`` marker."""
    text = DOC.read_text()
    block = re.search(r"<!-- byom-sweep -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "the documented sweep is missing from docs/bring_your_own_method.md"
    return block.group(1).strip()


@pytest.mark.cell
@pytest.mark.sweep
@pytest.mark.subprocess
def test_the_documented_custom_pruner_sweep_runs_all_four_schedules(tmp_path):
    # The command is relative to the repository root: give it one whose cache and outputs are this test's.
    for name in ("benchmark", "conf", "examples"):
        (tmp_path / name).symlink_to(REPO / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB")} | {"PYTHONPATH": str(REPO)}
    done = subprocess.run(["bash", "-c", documented_command()], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "multirun").rglob("record.json")]
    assert sorted(r["config"]["schedule"]["name"] for r in records) == ["clr", "ft", "lrw", "slr"]
    assert all(r["status"] == "finished" for r in records)
    assert len({r["identity"]["pruned"] for r in records}) == 1 and len({r["identity"]["cell"] for r in records}) == 4
    assert all(r["model"]["params_after"] < r["model"]["params_before"] for r in records)
    assert len(list((tmp_path / "multirun").rglob("offline-run-*"))) == 4, "W&B ran offline beside each record"
