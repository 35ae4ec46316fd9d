"""A whole cell on the synthetic dataset: record, reuse, seeds, resume, divergence, CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.cell import run_cell
from benchmark.data import DeviceLoader, synthetic_splits
from benchmark.models import build_model
from benchmark.train import TrainSettings, train
from tests.conftest import REPO, TINY, TINY_DATA


@pytest.mark.cell
def test_a_cell_writes_a_complete_record(tiny_cfg, tmp_path):
    record = run_cell(tiny_cfg("schedule=clr"), tmp_path / "out").as_dict()
    on_disk = json.loads((tmp_path / "out" / "record.json").read_text())
    assert on_disk == json.loads(json.dumps(record, default=str))
    cached = tmp_path / "cache" / "cells" / record["identity"]["cell"] / "record.json"
    assert json.loads(cached.read_text())["identity"] == record["identity"]
    assert record["status"] == "finished"
    for key in ("test_top1", "test_top5", "final_train_loss", "baseline_test_top1", "pruned_test_top1"):
        assert key in record["metrics"]
    assert 0 <= record["metrics"]["test_top1"] <= record["metrics"]["test_top5"] <= 100
    m = record["model"]
    assert m["params_after"] < m["params_before"] and m["flops_after"] < m["flops_before"]
    assert m["sparsity"] == pytest.approx(1 - m["params_after"] / m["params_before"])
    assert record["seeds"] == {"baseline": 0, "prune": 0, "retrain": 0}
    assert len(record["history"]) == 2 and record["budget_epochs"] == 2
    assert record["config"]["schedule"]["name"] == "clr"
    assert set(record["seconds"]) >= {"baseline", "prune", "retrain", "cell"}
    env = record["environment"]
    assert env["packages"]["torch"] == torch.__version__.split("+")[0] or env["packages"]["torch"] == torch.__version__
    assert "commit" in env["git"] and env["device"]["type"] == "cpu"


@pytest.mark.cell
def test_a_finished_cell_is_reused_not_rerun(tiny_cfg, tmp_path):
    cfg = tiny_cfg("schedule=ft")
    first = run_cell(cfg, tmp_path / "a").as_dict()
    cached = tmp_path / "cache" / "cells" / first["identity"]["cell"] / "record.json"
    stamp = cached.stat().st_mtime_ns
    second = run_cell(cfg, tmp_path / "b").as_dict()
    assert second == json.loads(json.dumps(first, default=str))
    assert cached.stat().st_mtime_ns == stamp
    assert (tmp_path / "b" / "record.json").exists()


@pytest.mark.cell
def test_schedules_of_one_comparison_share_baseline_and_pruned_model(tiny_cfg, tmp_path):
    ft = run_cell(tiny_cfg("schedule=ft"), tmp_path / "ft").as_dict()
    clr = run_cell(tiny_cfg("schedule=clr", "budget.epochs=3"), tmp_path / "clr").as_dict()
    assert ft["identity"]["pruned"] == clr["identity"]["pruned"] and ft["identity"]["cell"] != clr["identity"]["cell"]
    assert len(list((tmp_path / "cache" / "baselines").iterdir())) == 1
    assert len(list((tmp_path / "cache" / "pruned").iterdir())) == 1
    assert ft["metrics"]["pruned_test_top1"] == clr["metrics"]["pruned_test_top1"]


@pytest.mark.cell
def test_same_seeds_give_the_same_result_and_other_seeds_do_not(tiny_cfg, tmp_path):
    a = run_cell(tiny_cfg("schedule=slr", cache=tmp_path / "c1"), tmp_path / "a").as_dict()
    b = run_cell(tiny_cfg("schedule=slr", cache=tmp_path / "c2"), tmp_path / "b").as_dict()
    c = run_cell(tiny_cfg("schedule=slr", "seed.retrain=1", cache=tmp_path / "c1"), tmp_path / "c").as_dict()
    assert a["metrics"] == b["metrics"]
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    assert c["identity"]["baseline"] == a["identity"]["baseline"]
    assert c["metrics"]["final_train_loss"] != a["metrics"]["final_train_loss"]


def test_an_interrupted_training_resumes_to_the_uninterrupted_result(tmp_path, tiny_cfg):
    cfg = tiny_cfg("schedule=clr", "budget.epochs=3")
    train_split, _ = synthetic_splits(cfg.dataset)

    def fresh():
        torch.manual_seed(0)
        return build_model(cfg.model, 10), DeviceLoader(train_split, 64, torch.device("cpu"), True, seed=1)

    model, loader = fresh()
    quiet = TrainSettings(progress="off")
    whole = train(model, loader, epochs=3, schedule=cfg.schedule, recipe=cfg.recipe, checkpoint=tmp_path / "whole.pt",
                  desc="whole", settings=quiet)

    class Killed(Exception):
        pass

    def die_after_first_epoch(row):
        if row["epoch"] == 0:
            raise Killed

    model2, loader2 = fresh()
    with pytest.raises(Killed):
        train(model2, loader2, epochs=3, schedule=cfg.schedule, recipe=cfg.recipe, checkpoint=tmp_path / "cut.pt",
              desc="cut", settings=quiet, on_epoch=die_after_first_epoch)
    model3, loader3 = fresh()  # a new process: new model object, state only from the checkpoint
    resumed = train(model3, loader3, epochs=3, schedule=cfg.schedule, recipe=cfg.recipe, checkpoint=tmp_path / "cut.pt",
                    desc="cut", settings=quiet)
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in whole.history]
    for a, b in zip(model.state_dict().values(), model3.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.cell
def test_a_diverging_cell_is_recorded_as_diverged(tiny_cfg, tmp_path):
    record = run_cell(tiny_cfg("schedule=ft", "schedule.lr=1e8"), tmp_path / "out").as_dict()
    assert record["status"] == "diverged"
    assert record["diverged"] == {"stage": "retrain", "round": 0, "epoch": 0}
    assert "test_top1" not in record["metrics"]


class RecordingTracker:
    """Stands in for the W&B run: keeps what the cell logs and summarises."""

    def __init__(self) -> None:
        self.summary: dict = {}

    def log(self, metrics: dict) -> None:
        pass

    def summarise(self, summary: dict) -> None:
        self.summary.update(summary)


@pytest.mark.cell
@pytest.mark.parametrize("overrides,stage", [(("recipe.lr=1e8",), "baseline"), (("schedule=ft", "schedule.lr=1e8"), "retrain")])
def test_every_terminal_state_lands_in_the_cache_the_output_and_wandb_alike(tiny_cfg, tmp_path, monkeypatch, overrides,
                                                                             stage):
    """A cell that diverges in its baseline or in retraining is recorded like a finished cell:
    in its cache folder (so it is reused), in the output folder, and in the W&B summary."""
    from contextlib import contextmanager

    import benchmark.cell as cell_module
    from benchmark import stages

    trackers = []

    @contextmanager
    def recording(*args, **kwargs):
        trackers.append(RecordingTracker())
        yield trackers[-1]

    monkeypatch.setattr(cell_module, "tracked", recording)
    cfg = tiny_cfg(*overrides)
    first = run_cell(cfg, tmp_path / "a")
    assert first.status == "diverged" and first.diverged["stage"] == stage
    cached = json.loads(next((tmp_path / "cache" / "cells").glob("*/record.json")).read_text())
    assert cached == json.loads((tmp_path / "a" / "record.json").read_text()) == first.as_dict()
    assert trackers[0].summary["status"] == cached["status"] == "diverged"
    assert trackers[0].summary["diverged/stage"] == stage

    def no_training(*args, **kwargs):
        raise AssertionError("a diverged cell asked for again must not train")

    monkeypatch.setattr(stages, "train", no_training)
    monkeypatch.setattr(cell_module, "train", no_training)
    again = run_cell(cfg, tmp_path / "b")
    assert again.as_dict() == first.as_dict()
    assert json.loads((tmp_path / "b" / "record.json").read_text()) == cached
    if stage == "baseline":  # another cell on the same baseline learns it diverged without retraining it
        other = run_cell(tiny_cfg(*overrides, "schedule=lrw"), tmp_path / "c")
        assert other.status == "diverged" and other.identity["cell"] != first.identity["cell"]


@pytest.mark.cell
@pytest.mark.subprocess
def test_wandb_offline_run_is_named_after_the_cell(tiny_cfg, tmp_path, monkeypatch):
    for var in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    record = run_cell(tiny_cfg("wandb.mode=auto"), tmp_path / "out").as_dict()
    runs = list((tmp_path / "out" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and runs[0].name.endswith(record["identity"]["cell"])
    assert (runs[0] / f"run-{record['identity']['cell']}.wandb").stat().st_size > 0


def cli(*args: str, cwd: Path, wandb: str = "disabled") -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": wandb, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "benchmark" / "run.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.subprocess
def test_plan_json_reports_counts_and_lr_per_epoch(tmp_path):
    out = cli("schedule=lrw", "budget.epochs=72", "mode=plan", "plan.format=json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout.strip().splitlines()[-1])
    assert plan["params_before"] == 853018 and plan["flops_before"] == 125485696
    assert plan["params_after"] < plan["params_before"] and plan["flops_after"] < plan["flops_before"]
    assert plan["steps_per_epoch"] == math.ceil(50000 / 64)
    assert plan["lr_at_epoch_start"] == pytest.approx([0.01] * 32 + [0.001] * 40)
    assert not (tmp_path / "cache").exists() and not any(tmp_path.rglob("*.pt")), "plan mode trains nothing"


@pytest.mark.subprocess
def test_plan_text_names_the_cell(tmp_path):
    out = cli("mode=plan", "schedule=clr", "budget.epochs=40", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "cifar10-resnet56-l1-clr-T40-s0" in out.stdout and "epoch   39" in out.stdout


@pytest.mark.subprocess
def test_bad_input_on_the_command_line_is_one_line_before_training(tmp_path):
    out = cli("schedule=lrw", "budget.epochs=400", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("error: schedule=lrw")
    assert not (tmp_path / "cache").exists()


@pytest.mark.cell
@pytest.mark.sweep
@pytest.mark.subprocess
def test_a_multirun_sweep_leaves_one_record_per_schedule(tmp_path):
    out = cli("-m", *TINY_DATA, *[o for o in TINY if not o.startswith("wandb")], "schedule=ft,lrw,slr,clr",
              f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path, wandb="offline")
    assert out.returncode == 0, out.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "sweep").rglob("record.json")]
    assert len(list((tmp_path / "sweep").rglob("offline-run-*"))) == 4  # W&B on, as a user's sweep has it
    assert sorted(r["config"]["schedule"]["name"] for r in records) == ["clr", "ft", "lrw", "slr"]
    assert all(r["status"] == "finished" for r in records)
    assert len({r["identity"]["baseline"] for r in records}) == 1
