"""The W&B collectors: real offline run folders read through `wandb leet`, and the public
API path (a stand-in API object, and the unreachable case) giving the rows records give."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from benchmark.report import collect as collector
from benchmark.report import tables
from benchmark.report.collect import CORE_COLUMNS, collect
from tests.test_tables import write_record


def _leet_available() -> bool:
    probe = [sys.executable, "-m", "wandb", "leet", "inspect", "--help"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def offline_run(folder, record: dict, summary: dict | None, fail: bool = False) -> None:
    """What the suite's tracker writes for a cell: id = cell identity, config, summary."""
    import wandb

    run = wandb.init(mode="offline", dir=str(folder), id=record["identity"]["cell"], project="p",
                     name=record["name"], config=record["config"], settings=wandb.Settings(console="off", silent=True))
    run.log({"retrain/epoch": 0, "retrain/lr": 0.001})
    if summary is not None:
        run.summary.update(summary)
    run.finish(exit_code=1 if fail else 0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Records, and W&B offline runs of the same cells: two finished, one without a result."""
    if not _leet_available():
        pytest.skip("`wandb leet inspect` (wandb >= 0.31) is not available")
    root = tmp_path_factory.mktemp("wandb")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
            patch.setenv(name, str(root / name.lower()))
        patch.delenv("WANDB_API_KEY", raising=False)
        cells = [write_record(root / "records" / s, s, 0, acc, epochs=12) for s, acc in (("ft", 80.0), ("clr", 84.5))]
        failed = write_record(root / "records" / "lrw", "lrw", 0, 0.0, status="failed", epochs=12)
        for record in cells:
            metrics = dict(record["metrics"], pruned_test_top1=10.0)
            offline_run(root / "wandb", record, metrics | {"status": "finished"})
        offline_run(root / "wandb", failed, None, fail=True)
    return root, cells, failed, collector.read_wandb_dirs([root / "wandb"])


@pytest.mark.subprocess
def test_offline_runs_read_back_as_the_records_of_their_cells(runs):
    root, cells, failed, wandb_records = runs
    from_records, from_wandb = collect([root / "records"]), collector.frame_of(wandb_records)
    assert len(from_wandb) == 3 and set(from_wandb["source"]) == {"wandb-local"}
    assert set(CORE_COLUMNS) <= set(from_wandb.columns) and set(CORE_COLUMNS) <= set(from_records.columns)
    config = {c for c in from_records.columns if c.startswith("config.")}
    assert config == {c for c in from_wandb.columns if c.startswith("config.")}
    keys = ["identity.cell", "name", "status", "budget_epochs", "metrics.test_top1", "metrics.baseline_test_top1",
            "config.schedule.name", "config.seed.retrain", "seeds.retrain", "config.model.width"]
    expected = from_records.set_index("identity.cell").loc[[c["identity"]["cell"] for c in cells]]
    got = from_wandb.set_index("identity.cell").loc[expected.index]
    for key in keys[1:]:  # 1 == 1.0: W&B's JSON writes a float config value without its ".0"
        assert got[key].tolist() == expected[key].tolist(), key
    # The run that never wrote its summary is not finished, and is listed, not dropped.
    problem = tables.unfinished(tables.tidy(from_wandb))
    assert problem["identity.cell"].tolist() == [failed["identity"]["cell"]]
    assert problem["status"].tolist() == ["incomplete"]


@pytest.mark.subprocess
def test_a_cell_in_records_and_in_wandb_counts_once_and_tables_agree(runs, tmp_path):
    root, cells, failed, wandb_records = runs
    records = [collector._read(path) for path in collector.find_records([root / "records"])]
    both = collector.frame_of(wandb_records + records)
    assert len(both) == 3 and both["identity.cell"].is_unique
    assert set(both.loc[both["status"] == "finished", "source"]) == {"record"}  # params and FLOPs live there
    assert both.loc[both["status"] == "finished", "model.params_after"].tolist() == [60, 60]
    # collect() does not even inspect the runs of finished records, and ends with the same rows.
    assert set(collect([root / "records"], [root / "wandb"])["identity.cell"]) == set(both["identity.cell"])
    wandb_only = tables.comparison(tables.tidy(collector.frame_of(wandb_records)))
    from_records = tables.comparison(tables.tidy(collect([root / "records"])))
    for column in ("FT", "CLR", "CLR-FT", "baseline", "T", "pruner", "model"):
        assert wandb_only[column].tolist() == from_records[column].tolist()
    assert tables.main(["--wandb-dirs", str(root / "wandb"), "--out", str(tmp_path / "r"), "--no-figures"]) == 0


class FakeRun(SimpleNamespace):
    """The attributes of wandb.apis.public.Run that the collector reads."""


def test_api_runs_become_rows_like_records(monkeypatch, tmp_path):
    import wandb

    record = write_record(tmp_path / "records", "clr", 1, 84.0)
    run = FakeRun(id=record["identity"]["cell"], name=record["name"], group="g", state="finished",
                  config={**record["config"], "_wandb": {"runtime": 3}}, url="https://wandb.ai/e/p/runs/x",
                  summary_metrics={**record["metrics"], "status": "finished", "_step": 9, "retrain/lr": 1e-5},
                  heartbeatAt="2026-01-01T00:00:00Z")
    asked = {}

    class FakeApi:
        def __init__(self, timeout=None):
            pass

        def runs(self, path, filters=None):
            asked.update(path=path, filters=filters)
            return [run]

    monkeypatch.setattr(wandb, "Api", FakeApi)
    frame = collect([], wandb_project="e/p", wandb_group="g")
    assert asked == {"path": "e/p", "filters": {"group": "g"}}
    row, expected = frame.iloc[0], collect([tmp_path / "records"]).iloc[0]
    assert len(frame) == 1 and row["source"] == "wandb-api" and row["comparison"] == "g"
    for key in ("identity.cell", "status", "budget_epochs", "metrics.test_top1", "config.schedule.name", "seeds.retrain"):
        assert row[key] == expected[key]
    assert "config._wandb.runtime" not in frame and "metrics._step" not in frame and "metrics.retrain/lr" not in frame


def test_unreachable_api_says_so_in_one_line_and_local_data_is_used(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc with a key
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    write_record(tmp_path / "records", "ft", 0, 80.0)
    frame = collect([tmp_path / "records"], wandb_project="team/project", wandb_group="g")
    assert len(frame) == 1 and frame["source"].tolist() == ["record"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("W&B API not reachable for team/project")


def test_a_hanging_api_is_abandoned_after_the_timeout(monkeypatch, capsys):
    import wandb

    class SlowApi:
        def __init__(self, timeout=None):
            time.sleep(30)

    monkeypatch.setattr(wandb, "Api", SlowApi)
    started = time.monotonic()
    assert collector.read_wandb_api("e/p", timeout=0.5) == []
    assert time.monotonic() - started < 10
    assert "no answer within 0.5 s" in capsys.readouterr().err
