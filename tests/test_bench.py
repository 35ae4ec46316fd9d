"""`make bench`'s report: each row's figures belong to that row's model."""

from __future__ import annotations

import json

import pytest

from benchmark.speed import bench


@pytest.mark.slow
def test_a_small_case_after_a_large_one_reports_its_own_peak_memory(tmp_path):
    """Cases run one after another; a process's peak memory only grows, so a shared process
    would report DenseNet-40's peak again for its pruned half. Each case has its own process."""
    assert bench.main(["--models", "densenet40,densenet40-l1-50", "--steps", "1", "--warmup", "0", "--repeats", "1",
                       "--data-steps", "1", "--pack", "0", "--no-compile", "--out", str(tmp_path)]) == 0
    rows = {r["model"]: r for r in json.loads((tmp_path / "bench.json").read_text())["rows"]}
    assert rows["densenet40-l1-50"]["peak_memory_mib"] < rows["densenet40"]["peak_memory_mib"] - 500
