"""`make demo` as a user runs it: the Makefile's own sweep (seeds x budgets x schedules, W&B
offline), shrunk only in data, width and epochs, then its table and figure."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO

SHRINK = ["dataset.train_size=320", "dataset.test_size=200", "model.width=0.25", "recipe.epochs=6",
          "recipe.milestones=[3,5]", "progress=off", "device=cpu", "latency.repeats=0"]


def _demo_recipe() -> tuple[str, list[str], list[str]]:
    """The demo target's two command lines from the Makefile: the environment prefix and
    arguments of the sweep, and the arguments of the tables command."""
    text = (REPO / "Makefile").read_text()
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", text, re.M).group(1).splitlines()
    sweep = next(line for line in recipe if "benchmark/run.py" in line)
    tables = next(line for line in recipe if "benchmark.report.tables" in line)
    prefix, args = sweep.split("benchmark/run.py")
    return prefix, shlex.split(args), shlex.split(tables.split("benchmark.report.tables")[1])


@pytest.mark.cell
@pytest.mark.sweep
@pytest.mark.subprocess
def test_the_demo_sweep_gives_a_table_with_spread_over_seeds_and_budgets(tmp_path):
    prefix, args, table_args = _demo_recipe()
    assert "WANDB_MODE=$${WANDB_MODE:-offline}" in prefix  # the demo logs to W&B offline unless told otherwise
    seeds = re.search(r"seed\.retrain=([\d,]+)", " ".join(args)).group(1).split(",")
    budgets = re.search(r"budget\.epochs=([\d,]+)", " ".join(args)).group(1).split(",")
    schedules = re.search(r"schedule=([\w,]+)", " ".join(args)).group(1).split(",")
    assert len(seeds) >= 3 and len(budgets) >= 2

    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, str(REPO / "benchmark" / "run.py"), *args, *SHRINK], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "outputs" / "demo").rglob("record.json")]
    assert len(records) == len(seeds) * len(budgets) * len(schedules)
    assert all(r["status"] == "finished" for r in records)
    baseline_of = {}  # seed=linked: each seed trains its own baseline, shared by its schedules and budgets
    for r in records:
        baseline_of.setdefault(r["config"]["seed"]["retrain"], set()).add(r["identity"]["baseline"])
    assert all(len(ids) == 1 for ids in baseline_of.values())
    assert len({next(iter(ids)) for ids in baseline_of.values()}) == len(seeds)
    wandb_runs = list((tmp_path / "outputs" / "demo").rglob("offline-run-*"))
    assert len(wandb_runs) == len(records)  # one W&B offline run per cell

    out = tmp_path / "results"
    made = subprocess.run([sys.executable, "-m", "benchmark.report.tables", table_args[0], "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    table = pd.read_csv(out / "comparison.csv", dtype=str)
    assert sorted(table["T"]) == sorted(budgets)
    n = f"(n={len(seeds)})"
    for _, row in table.iterrows():
        assert row["baseline"].endswith(n) and " ± " in row["baseline"]
        for schedule in schedules:
            assert row[schedule.upper()].strip("*").endswith(n) and " ± " in row[schedule.upper()]
        assert row["order (seeds where it holds)"].endswith(f"/{len(seeds)} seeds)")
    assert (out / "accuracy_change.png").stat().st_size > 0
