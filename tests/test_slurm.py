"""The Slurm launcher presets, and sweeps through a real Slurm cluster.

The preset tests compose conf/hydra/launcher/*.yaml and always run. The cluster tests submit
tiny synthetic cells with `hydra/launcher=slurm` to the cluster named by $SLURM_CONF (start one
with `ROOT=/tmp/slurm bash scripts/slurm_up.sh`, as CI does) and skip, saying why, without one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from benchmark.cell import run_cell
from benchmark.report import collect
from benchmark.schema import register_configs
from tests.conftest import CONF, REPO, TINY, TINY_DATA, compose_config

SITE_VARS = ("BENCH_SLURM_PARTITION", "BENCH_SLURM_ACCOUNT", "BENCH_SLURM_QOS", "BENCH_SLURM_GPUS",
             "BENCH_SLURM_CPUS", "BENCH_SLURM_MEM_GB", "BENCH_SLURM_TIMEOUT_MIN", "BENCH_SLURM_PARALLELISM")


def hydra_config(*overrides: str, conf: Path = CONF) -> DictConfig:
    """The `hydra` node that `python benchmark/run.py <overrides>` would launch with."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True).hydra


# --- the presets, no cluster needed -------------------------------------------------------------

def test_slurm_preset_requeues_and_takes_site_values_from_the_environment(monkeypatch):
    for var in SITE_VARS:
        monkeypatch.delenv(var, raising=False)
    plain = hydra_config("hydra/launcher=slurm").launcher
    assert plain._target_.endswith("SlurmLauncher")
    assert plain.partition is None and plain.account is None and plain.qos is None
    assert plain.max_num_timeout > 0, "a preempted job must be requeued"
    assert plain.timeout_min * 60 >= plain.signal_delay_s + 60, "USR2 must not arrive as the job starts"

    monkeypatch.setenv("BENCH_SLURM_PARTITION", "gpu")
    monkeypatch.setenv("BENCH_SLURM_ACCOUNT", "lab")
    monkeypatch.setenv("BENCH_SLURM_QOS", "high")
    monkeypatch.setenv("BENCH_SLURM_GPUS", "2")
    monkeypatch.setenv("BENCH_SLURM_TIMEOUT_MIN", "30")
    site = hydra_config("hydra/launcher=slurm", "hydra.launcher.mem_gb=3").launcher
    assert (site.partition, site.account, site.qos) == ("gpu", "lab", "high")
    assert site.gpus_per_node == 2 and site.timeout_min == 30 and site.mem_gb == 3


def test_the_site_file_overrides_the_environment(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    example = (CONF / "local.example" / "slurm.yaml").read_text()
    assert "\nqos: normal" in example
    (conf / "local" / "slurm.yaml").write_text(example.replace("\nqos: normal", "\nqos: site-qos"))
    monkeypatch.setenv("BENCH_SLURM_QOS", "env-qos")
    monkeypatch.setenv("BENCH_SLURM_ACCOUNT", "env-account")
    launcher = hydra_config("hydra/launcher=slurm", "hydra.launcher.account=cli", conf=conf).launcher
    assert launcher.qos == "site-qos" and launcher.account == "cli" and launcher.partition == "gpu"
    assert launcher.max_num_timeout > 0


def test_local_preset_caps_parallel_cells(monkeypatch):
    monkeypatch.setenv("BENCH_LOCAL_PARALLELISM", "3")
    monkeypatch.setenv("BENCH_LOCAL_GPUS", "1")
    cfg = hydra_config("hydra/launcher=local", "hydra/sweeper=capped")
    assert cfg.launcher._target_.endswith("LocalLauncher") and cfg.launcher.gpus_per_node == 1
    assert cfg.sweeper.max_batch_size == 3


# --- a real cluster ------------------------------------------------------------------------------

def _slurm_missing() -> str | None:
    if not os.environ.get("SLURM_CONF"):
        return "SLURM_CONF is not set: start a cluster with scripts/slurm_up.sh to run the Slurm tests"
    if shutil.which("sinfo") is None:
        return "sinfo is not on PATH"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 20 s"
    states = set(out.stdout.split())
    if out.returncode != 0 or not states & {"idle", "mixed", "allocated"}:
        return f"no usable Slurm node (sinfo rc={out.returncode}: {(out.stdout + out.stderr).strip()[:200]})"
    return None


SLURM_MISSING = _slurm_missing()


def cluster(test):
    """A sweep of whole cells through the cluster: marked for what it needs, and skipped, saying
    why, without a cluster."""
    for mark in (pytest.mark.slurm, pytest.mark.sweep, pytest.mark.subprocess, pytest.mark.cell,
                 pytest.mark.skipif(SLURM_MISSING is not None, reason=str(SLURM_MISSING))):
        test = mark(test)
    return test


# Tiny cells with log lines (the preemption test reads them); 1 CPU per job, so two run at once.
CELL = [*TINY_DATA, *[o for o in TINY if not o.startswith(("progress", "wandb"))], "progress=log"]
JOB = ["hydra/launcher=slurm", "hydra.launcher.partition=debug", "hydra.launcher.gpus_per_node=null",
       "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10",
       "hydra.sweep.subdir=${hydra.job.num}"]


# W&B as a user's sweep has it: offline (the default without an API key), or online with a key
# but no reachable server (a closed local port stands in for a compute node without network).
WANDB = {
    "offline": {"WANDB_MODE": "offline"},
    "online-without-network": {"WANDB_MODE": "online", "WANDB_API_KEY": "0" * 40,
                               "WANDB_BASE_URL": "http://127.0.0.1:9"},
}


def sweep(tmp: Path, name: str, *overrides: str, wandb: str = "offline", cell: List[str] = CELL) -> subprocess.Popen:
    """Start `benchmark/run.py -m` on the cluster; jobs are named after the test for clean-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")} | WANDB[wandb]
    env |= {"PYTHONPATH": str(REPO)} | {var: str(tmp / var.lower()) for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR")}
    env |= {var: "1" for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")}  # compute nodes without network
    args = [sys.executable, str(REPO / "benchmark" / "run.py"), "-m", *cell, *JOB, f"hydra.launcher.name={name}",
            f"hydra.sweep.dir={tmp / 'sweep'}", f"paths.cache={tmp / 'cache'}", *overrides]
    log = open(tmp / "launcher.log", "w")
    return subprocess.Popen(args, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, tmp: Path, timeout: float) -> str:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the sweep did not return within {timeout} s:\n{(tmp / 'launcher.log').read_text()[-3000:]}")
    return (tmp / "launcher.log").read_text()


@contextmanager
def jobs_named(name: str) -> Iterator[str]:
    """When the test fails, cancel what it left in the queue (the launcher does not)."""
    try:
        yield name
    except BaseException:
        subprocess.run(["scancel", "--name", name], capture_output=True, timeout=30)
        raise


def need_cpus(n: int) -> None:
    """Fail at once, saying why, when the node has fewer CPUs than a job of the test asks for: such
    a job would wait in the queue until the sweep's timeout."""
    out = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, timeout=20).stdout.split()
    have = max((int(c) for c in out if c.isdigit()), default=0)
    if have < n:
        pytest.fail(f"the Slurm node has {have} CPU(s) and this test's job needs {n}: scripts/slurm_up.sh "
                    f"sizes the node by `nproc --all`; was the cluster started with another CONF?")


def records(folder: Path) -> List[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("record.json"))]


def job_logs(tmp: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted((tmp / "sweep" / ".submitit").rglob("*_log.*")))


@cluster
def test_a_sweep_of_the_four_schedules_finishes_on_slurm(tmp_path):
    with jobs_named(f"sweep-{tmp_path.name}") as name:
        proc = sweep(tmp_path, name, "schedule=ft,lrw,slr,clr")
        log = finish(proc, tmp_path, timeout=420)
    assert proc.returncode == 0, log[-3000:]
    done = records(tmp_path / "sweep")
    assert sorted(r["config"]["schedule"]["name"] for r in done) == ["clr", "ft", "lrw", "slr"]
    assert all(r["status"] == "finished" and 0 <= r["metrics"]["test_top1"] <= 100 for r in done)
    assert len({r["identity"]["baseline"] for r in done}) == 1, "the four cells share one baseline"
    assert len(list((tmp_path / "cache" / "cells").glob("*/record.json"))) == 4
    assert "Submitit 'slurm' sweep" in log and re.search(r"Starting with JobEnvironment\(job_id=\d+_3", job_logs(tmp_path))


def preempt_when_checkpointed(proc: subprocess.Popen, tmp: Path, name: str, checkpoints: int) -> str:
    """Once ``checkpoints`` cells have checkpointed a retraining epoch, send the sweep's one job
    USR2, as Slurm does before preempting it; check that the sweep succeeds after the job was
    requeued, and return the jobs' logs."""
    deadline = time.monotonic() + 300
    while len(list((tmp / "cache" / "cells").glob("*/checkpoint*.pt"))) < checkpoints:
        assert proc.poll() is None, (tmp / "launcher.log").read_text()[-3000:]
        assert time.monotonic() < deadline, f"not {checkpoints} retraining checkpoint(s) within 300 s"
        time.sleep(0.2)
    job = subprocess.run(["squeue", "-h", "--name", name, "-o", "%i"], capture_output=True, text=True,
                         timeout=30).stdout.split()
    assert len(job) == 1, job
    signalled = subprocess.run(["scancel", "--signal=USR2", job[0]], capture_output=True, text=True, timeout=30)
    assert signalled.returncode == 0, signalled.stderr
    log = finish(proc, tmp, timeout=480)
    assert proc.returncode == 0, log[-3000:]
    jobs = job_logs(tmp)
    assert "Caught signal SIGUSR2" in jobs and "Requeued job" in jobs, jobs[-3000:]
    return jobs


@contextmanager
def one_thread() -> Iterator[None]:
    """The jobs run one CPU thread each (OMP_NUM_THREADS from cpus_per_task=1): so does the reference."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@cluster
@pytest.mark.parametrize("wandb", sorted(WANDB))
def test_a_preempted_job_is_requeued_resumes_and_ends_as_if_uninterrupted(tmp_path, wandb):
    long_cell = ["schedule=clr", "budget.epochs=8", "dataset.train_size=512", "wandb.init_timeout=5"]
    with jobs_named(f"preempt-{tmp_path.name}") as name:
        proc = sweep(tmp_path, name, *long_cell, wandb=wandb)
        jobs = preempt_when_checkpointed(proc, tmp_path, name, checkpoints=1)
    resumed = re.search(r"retrain clr[^:]*: resuming after epoch (\d+) of 8", jobs)
    assert resumed and 1 <= int(resumed.group(1)) < 8, jobs[-3000:]
    # A dying W&B service may be logged as a warning ("logging ends, the cell goes on"), never raised.
    assert "mailbox.MailboxClosedError" not in jobs, jobs[-3000:]
    (record,) = records(tmp_path / "sweep")
    assert record["status"] == "finished"
    # Both jobs logged to one W&B run, the cell's: the requeued one resumed it and finished it.
    # (Online, each job's attempt first leaves a stub run-* folder, then logs offline under the same id.)
    runs = sorted(p for p in collect.find_wandb_runs([tmp_path / "sweep"]) if p.name.startswith("offline-run-"))
    assert len(runs) == 2 and all(p.name.endswith("-" + record["identity"]["cell"]) for p in runs), runs
    resumed_run = collect.inspect_run(runs[-1])
    assert resumed_run["identity"]["cell"] == record["identity"]["cell"] and resumed_run["status"] == "finished"
    assert resumed_run["metrics"]["test_top1"] == record["metrics"]["test_top1"]

    with one_thread():
        reference = run_cell(compose_config([*CELL, *long_cell, f"paths.cache={tmp_path / 'reference'}"]),
                             tmp_path / "reference-out").as_dict()
    assert record["identity"] == reference["identity"]
    assert record["metrics"]["test_top1"] == reference["metrics"]["test_top1"]
    assert record["metrics"]["final_train_loss"] == reference["metrics"]["final_train_loss"]
    assert record["metrics"] == reference["metrics"]


@cluster
def test_a_failing_job_fails_the_sweep_instead_of_hanging_it(tmp_path):
    # LRW needs T <= E: the lrw cell exits with a one-line error inside its job, without a result
    # file, so only Slurm accounting (sacct) can tell the launcher that it failed.
    started = time.monotonic()
    with jobs_named(f"fail-{tmp_path.name}") as name:
        proc = sweep(tmp_path, name, "schedule=ft,lrw", "budget.epochs=3")
        log = finish(proc, tmp_path, timeout=300)
    assert proc.returncode != 0
    assert time.monotonic() - started < 300
    assert "UncompletedJobError" in log and "FAILED" in log, log[-3000:]
    assert "error: schedule=lrw" in job_logs(tmp_path)
    assert [r["config"]["schedule"]["name"] for r in records(tmp_path / "sweep")] == ["ft"]


@cluster
def test_two_tasks_of_one_job_train_a_cell_data_parallel(tmp_path):
    """Multi-GPU layout on the CPU: two Slurm tasks of one job join one gloo process group,
    train the cell in lockstep, and rank 0 alone writes the record."""
    with jobs_named(f"ddp-{tmp_path.name}") as name:
        need_cpus(2)
        proc = sweep(tmp_path, name, "schedule=clr", "hydra.launcher.tasks_per_node=2")
        log = finish(proc, tmp_path, timeout=420)
    assert proc.returncode == 0, log[-3000:]
    (record,) = records(tmp_path / "sweep")
    assert record["status"] == "finished" and record["environment"]["world_size"] == 2
    with one_thread():
        single = run_cell(compose_config([*CELL, "schedule=clr", f"paths.cache={tmp_path / 'single'}"]),
                          tmp_path / "single-out").as_dict()
    assert single["environment"]["world_size"] == 1
    # Same global batch and schedule; per-rank BN statistics make the runs differ a little.
    assert record["metrics"]["final_train_loss"] == pytest.approx(single["metrics"]["final_train_loss"], rel=0.05)


@cluster
def test_four_schedules_packed_into_one_job_share_it_and_each_leave_a_record(tmp_path):
    """cells_per_job=4: one Slurm job (2 CPUs) trains the four schedules of one pruned model at once."""
    with jobs_named(f"pack-{tmp_path.name}") as name:
        need_cpus(2)
        proc = sweep(tmp_path, name, "schedule=ft,lrw,slr,clr", "hydra.launcher.cells_per_job=4",
                     "hydra.launcher.cpus_per_task=2")
        log = finish(proc, tmp_path, timeout=420)
    assert proc.returncode == 0, log[-3000:]
    assert "Packing 4 cells into 1 jobs of up to 4 cells each" in log
    jobs = job_logs(tmp_path)
    assert len(re.findall(r"Starting with JobEnvironment\(job_id=\d+", jobs)) == 1, jobs[-3000:]
    assert len(re.findall(r"packed process \d+: cpus", jobs)) == 4
    done = records(tmp_path / "sweep")
    assert sorted(r["config"]["schedule"]["name"] for r in done) == ["clr", "ft", "lrw", "slr"]
    assert all(r["status"] == "finished" for r in done)
    assert len({r["identity"]["pruned"] for r in done}) == 1, "the four cells share one pruned model"


@cluster
def test_a_preempted_packed_job_resumes_every_cell_of_its_pack(tmp_path):
    long_cells = ["schedule=ft,clr", "budget.epochs=8", "dataset.train_size=512", "hydra.launcher.cells_per_job=2",
                  "hydra.launcher.cpus_per_task=2"]
    with jobs_named(f"packpre-{tmp_path.name}") as name:
        need_cpus(2)
        proc = sweep(tmp_path, name, *long_cells)
        jobs = preempt_when_checkpointed(proc, tmp_path, name, checkpoints=2)
    for schedule in ("ft", "clr"):
        assert re.search(rf"retrain {schedule}[^:]*: resuming after epoch [1-7] of 8", jobs), jobs[-3000:]
    done = records(tmp_path / "sweep")
    assert sorted(r["config"]["schedule"]["name"] for r in done) == ["clr", "ft"]
    assert all(r["status"] == "finished" and len(r["history"]) == 8 for r in done)


# --- language-model cells on the same launcher ----------------------------------------------------

def _lm_cell() -> List[str]:
    pytest.importorskip("transformers")
    from tests.test_lm import KILLABLE_LM

    return [o for o in KILLABLE_LM if not o.startswith("progress")] + ["progress=log"]


@cluster
def test_a_preempted_lm_job_is_requeued_resumes_and_ends_as_if_uninterrupted(tmp_path):
    """A language-model cell (dataset=text) through the Slurm launcher with W&B offline: the job
    is sent USR2 once retraining has checkpointed, requeued, and resumes to the record an
    uninterrupted run in this process gives."""
    cell, long_cell = _lm_cell(), ["schedule=clr", "budget.epochs=6", "retrain.params=biases_norms"]
    with jobs_named(f"preempt-lm-{tmp_path.name}") as name:
        proc = sweep(tmp_path, name, *long_cell, cell=cell)
        jobs = preempt_when_checkpointed(proc, tmp_path, name, checkpoints=1)
    resumed = re.search(r"retrain clr biases_norms: resuming after epoch (\d+) of 6", jobs)
    assert resumed and 1 <= int(resumed.group(1)) < 6, jobs[-3000:]
    (record,) = records(tmp_path / "sweep")
    assert record["status"] == "finished" and record["name"].endswith("-biases_norms")
    runs = sorted(p for p in collect.find_wandb_runs([tmp_path / "sweep"]) if p.name.startswith("offline-run-"))
    assert len(runs) == 2 and all(p.name.endswith("-" + record["identity"]["cell"]) for p in runs), runs

    with one_thread():
        reference = run_cell(compose_config([*cell, *long_cell, "wandb.mode=disabled",
                                             f"paths.cache={tmp_path / 'reference'}"]),
                             tmp_path / "reference-out").as_dict()
    assert record["identity"] == reference["identity"]
    assert record["metrics"] == reference["metrics"]
    assert [h["train_loss"] for h in record["history"]] == [h["train_loss"] for h in reference["history"]]
