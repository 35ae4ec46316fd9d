"""The collector and the comparison table, on records written to disk."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from benchmark import tables
from benchmark.collect import collect


def write_record(folder: Path, schedule: str, seed: int, acc: float, status: str = "finished", cell: str | None = None):
    record = {
        "identity": {"cell": cell or f"cell-{schedule}-{seed}", "pruned": "p", "baseline": "b"},
        "name": f"synthetic-resnet20-l1-{schedule}-T10-s{seed}",
        "status": status,
        "budget_epochs": 10,
        "config": {"dataset": {"name": "synthetic"}, "model": {"name": "resnet20", "width": 1.0},
                   "pruner": {"name": "l1", "ratio": 0.5, "stage_ratios": None, "skip_layers": []},
                   "schedule": {"name": schedule}, "seed": {"baseline": 0, "prune": 0, "retrain": seed}},
        "metrics": {"test_top1": acc, "baseline_test_top1": 90.0} if status == "finished" else {},
        "model": {"params_before": 100, "params_after": 60, "flops_before": 1000, "flops_after": 500},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record.json").write_text(json.dumps(record))


ACC = {"ft": [80.0, 81.0, 79.5], "lrw": [82.0, 82.5, 81.0], "slr": [81.0, 80.0, 82.0], "clr": [84.0, 85.0, 84.5]}


@pytest.fixture
def sweep(tmp_path):
    for schedule, accs in ACC.items():
        for seed, acc in enumerate(accs):
            write_record(tmp_path / "runs" / f"{schedule}{seed}", schedule, seed, acc)
    return tmp_path / "runs"


def test_table_reports_mean_std_n_and_marks_the_best(sweep):
    table = tables.comparison(tables.tidy(collect([sweep])))
    assert len(table) == 1
    row = table.iloc[0]
    for schedule, accs in ACC.items():
        text = f"{statistics.mean(accs):.2f} ± {statistics.stdev(accs):.2f} (n=3)"
        assert text in row[schedule.upper()]
    assert row["CLR"].startswith("**") and not row["FT"].startswith("**")
    assert row["params -%"] == "40.0" and row["FLOPs -%"] == "50.0" and row["baseline"] == "90.00"


def test_paired_difference_to_ft_is_marked_only_when_its_interval_excludes_zero(sweep):
    row = tables.comparison(tables.tidy(collect([sweep]))).iloc[0]
    clr_minus_ft = statistics.mean(c - f for c, f in zip(ACC["clr"], ACC["ft"]))
    assert row["CLR-FT"] == f"{clr_minus_ft:+.2f}*"
    assert not row["SLR-FT"].endswith("*")  # +1.0, -1.0, +2.5: the interval straddles zero


def test_the_same_cell_twice_counts_once_and_failures_are_listed(sweep):
    write_record(sweep / "again", "ft", 0, 80.0, cell="cell-ft-0")
    write_record(sweep / "broken", "lrw", 7, 0.0, status="diverged")
    frame = tables.tidy(collect([sweep]))
    assert (frame["identity.cell"] == "cell-ft-0").sum() == 1
    assert "(n=3)" in tables.comparison(frame).iloc[0]["FT"]
    problems = tables.unfinished(frame)
    assert problems["status"].tolist() == ["diverged"]


def test_cli_writes_markdown_csv_latex_and_says_when_there_is_nothing(sweep, tmp_path, capsys):
    assert tables.main([str(sweep), "--out", str(tmp_path / "results")]) == 0
    for suffix in ("md", "csv", "tex"):
        assert (tmp_path / "results" / f"comparison.{suffix}").stat().st_size > 0
    assert tables.main([str(tmp_path / "empty"), "--out", str(tmp_path / "r2")]) == 1
    assert "no records found" in capsys.readouterr().err
