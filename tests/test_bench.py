"""`make bench`'s report: each row's figures belong to that row's model."""

from __future__ import annotations

import json

import pytest

from benchmark.speed import bench


@pytest.mark.subprocess
def test_each_case_row_describes_its_own_model(tmp_path):
    """Cases run one after another, each in a process of its own (a process's peak memory only
    grows: a shared one would report DenseNet-40's peak again for its pruned half). Speed and
    memory are reported by `make bench`, never asserted: they belong to the machine."""
    assert bench.main(["--models", "densenet40,densenet40-l1-50", "--steps", "1", "--warmup", "0", "--repeats", "1",
                       "--data-steps", "1", "--pack", "0", "--demo-seeds", "", "--no-compile", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    rows = {r["model"]: r for r in report["rows"]}
    assert list(rows) == ["densenet40", "densenet40-l1-50"] and report["demo"] is None
    assert rows["densenet40-l1-50"]["mflops_per_image"] < 0.7 * rows["densenet40"]["mflops_per_image"]
    assert all(row["peak_memory_mib"] > 0 and row["suite_img_s"] > 0 for row in rows.values())
    assert "densenet40-l1-50" in (tmp_path / "bench.md").read_text()


@pytest.mark.cell
@pytest.mark.sweep
@pytest.mark.subprocess
def test_the_demo_row_times_one_seed_of_the_demo_grid_against_its_own_baseline_epoch(tmp_path):
    """The row `make bench` adds for the demo: one seed's 8 cells and 1 baseline, from an empty cache;
    its wall time in units of the same run's baseline epoch (speed is reported, not asserted)."""
    from tests.test_demo import SHRINK

    demo = bench.bench_demo("0", tmp_path, [s for s in SHRINK if not s.startswith("progress=")])
    assert demo["cells"] == 8 and demo["baselines"] == 1
    recipe_epochs = int(next(s for s in SHRINK if s.startswith("recipe.epochs=")).split("=")[1])
    assert demo["wall_in_baseline_epochs"] > recipe_epochs  # the baseline's epochs and then the retraining
    assert demo["cpu_s"] > 0 and "| 0 | 8 |" in "\n".join(bench.demo_markdown(demo))
