"""Several cells per job: the process runner (benchmark.launch.packing) and the packing launchers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.launch.packing import (
    PackedProcessDied,
    placements,
    run_concurrently,
    visible_gpus,
)
from tests.conftest import REPO, TINY, TINY_DATA
from tests.test_slurm import hydra_config

# --- placement -----------------------------------------------------------------------------------

def test_cores_are_split_into_contiguous_near_equal_shares():
    assert [p.cpus for p in placements(3, [7, 0, 1, 2, 3, 4, 5, 6])] == [(0, 1, 2), (3, 4, 5), (6, 7)]
    assert [p.cpus for p in placements(2, [0, 1])] == [(0,), (1,)]


def test_more_processes_than_cores_share_cores_round_robin():
    assert [p.cpus for p in placements(4, [2, 5])] == [(2,), (5,), (2,), (5,)]


def test_gpus_are_handed_out_in_turn_and_left_alone_when_the_job_names_none():
    assert [p.gpu for p in placements(5, range(10), ["0", "3"])] == ["0", "3", "0", "3", "0"]
    assert [p.gpu for p in placements(2, range(10))] == [None, None]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "1, 2"}) == ["1", "2"]
    assert visible_gpus({}) == [] and visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []


def test_zero_processes_is_an_error():
    with pytest.raises(ValueError, match="count=0"):
        placements(0, [0])


# --- the runner ----------------------------------------------------------------------------------

def _where_am_i(tag: str):
    return {"tag": tag, "pid": os.getpid(), "cpus": sorted(os.sched_getaffinity(0)),
            "threads": os.environ.get("OMP_NUM_THREADS"), "gpu": os.environ.get("CUDA_VISIBLE_DEVICES")}


def _meet(folder: str, me: str, other: str) -> str:
    """Wait (at most 60 s) for the other process: only processes running at once can meet."""
    Path(folder, me).touch()
    deadline = time.monotonic() + 60
    while not Path(folder, other).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{other} never ran while {me} did")
        time.sleep(0.05)
    return me


def _fail() -> None:
    raise KeyError("bad cell")


def _die() -> None:
    os._exit(7)


@pytest.mark.subprocess
def test_calls_run_at_once_in_separate_processes_placed_as_planned():
    cpus = sorted(os.sched_getaffinity(0))
    results = run_concurrently([lambda: _where_am_i("a"), lambda: _where_am_i("b")], cpus=cpus, gpus=["5", "6"])
    expected = placements(2, cpus, ["5", "6"])
    assert [r["tag"] for r in results] == ["a", "b"]
    assert len({r["pid"] for r in results} | {os.getpid()}) == 3
    for result, placement in zip(results, expected):
        assert tuple(result["cpus"]) == placement.cpus
        assert result["threads"] == str(len(placement.cpus))
        assert result["gpu"] == placement.gpu


@pytest.mark.subprocess
def test_packed_calls_overlap_in_time(tmp_path):
    results = run_concurrently([lambda: _meet(str(tmp_path), "a", "b"), lambda: _meet(str(tmp_path), "b", "a")])
    assert results == ["a", "b"]


@pytest.mark.subprocess
def test_a_failing_or_dying_call_takes_only_its_own_slot():
    results = run_concurrently([_fail, _die, lambda: 42])
    assert isinstance(results[0], KeyError) and "bad cell" in str(results[0])
    assert isinstance(results[1], PackedProcessDied) and "code 7" in str(results[1])
    assert results[2] == 42


def _sleep_after_writing_pid(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(120)


@pytest.mark.subprocess
def test_an_interrupted_job_terminates_its_packed_processes(tmp_path):
    """What a preempted job does: its main process is interrupted (submitit's USR2 handler
    exits it) and no packed process may outlive it, or a requeued job would race it."""
    pid_file = tmp_path / "pid"

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    def arm_when_started(signum, frame):
        if pid_file.exists():
            signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, 0.2)

    previous = signal.signal(signal.SIGALRM, arm_when_started)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_concurrently([lambda: _sleep_after_writing_pid(str(pid_file))])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# --- the launchers -------------------------------------------------------------------------------

def test_presets_pack_one_cell_per_job_unless_asked(monkeypatch):
    monkeypatch.delenv("BENCH_CELLS_PER_JOB", raising=False)
    for preset in ("slurm", "local"):
        launcher = hydra_config(f"hydra/launcher={preset}").launcher
        assert launcher._target_.startswith("hydra_plugins.benchmark_launchers.packed.Packed")
        assert launcher.cells_per_job == 1
    monkeypatch.setenv("BENCH_CELLS_PER_JOB", "4")
    assert hydra_config("hydra/launcher=slurm").launcher.cells_per_job == 4
    assert hydra_config("hydra/launcher=local", "hydra.launcher.cells_per_job=2").launcher.cells_per_job == 2


CELL = [*TINY_DATA, *TINY]


def _local_sweep(tmp: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
    args = [sys.executable, str(REPO / "benchmark" / "run.py"), "-m", *CELL, "hydra/launcher=local",
            "hydra.launcher.gpus_per_node=0", "hydra.launcher.timeout_min=10", "hydra.sweep.subdir=${hydra.job.num}",
            f"hydra.sweep.dir={tmp / 'sweep'}", f"paths.cache={tmp / 'cache'}", *overrides]
    return subprocess.run(args, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)


def _records(folder: Path) -> list:
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("record.json"))]


def _cell_alone_on(cpus: tuple, *overrides: str) -> dict:
    """``run_cell`` in a fresh process pinned to ``cpus``, as a packed process is pinned."""
    code = ("import json, sys; from pathlib import Path; from benchmark.cell import run_cell; "
            "from tests.conftest import compose_config; "
            "cfg = compose_config(sys.argv[1:]); "
            "print(json.dumps(run_cell(cfg, Path(cfg.paths.cache) / 'out').as_dict()))")
    out = subprocess.run([sys.executable, "-c", code, *CELL, *overrides], cwd=REPO, capture_output=True, text=True,
                         timeout=300, preexec_fn=lambda: os.sched_setaffinity(0, cpus),
                         env={**os.environ, "WANDB_MODE": "disabled"})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.cell
@pytest.mark.sweep
@pytest.mark.subprocess
def test_a_packed_sweep_gives_each_cell_the_record_it_gets_alone(tmp_path):
    out = _local_sweep(tmp_path, "hydra.launcher.cells_per_job=2", "schedule=ft,lrw,clr")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Packing 3 cells into 2 jobs of up to 2 cells each" in out.stdout + out.stderr
    jobs = [p for p in (tmp_path / "sweep" / ".submitit").iterdir() if p.name.isdigit()]
    assert len(jobs) == 2, "three cells, two jobs"
    done = {r["config"]["schedule"]["name"]: r for r in _records(tmp_path / "sweep")}
    assert sorted(done) == ["clr", "ft", "lrw"]
    assert len({r["identity"]["baseline"] for r in done.values()}) == 1
    # Thread counts change float rounding: the reference runs alone on the cores lrw had in its pack.
    alone = _cell_alone_on(placements(2, sorted(os.sched_getaffinity(0)))[1].cpus, "schedule=lrw",
                           f"paths.cache={tmp_path / 'alone'}")
    assert done["lrw"]["identity"] == alone["identity"]
    assert done["lrw"]["metrics"] == alone["metrics"]


@pytest.mark.cell
@pytest.mark.sweep
@pytest.mark.subprocess
def test_a_failing_cell_fails_the_packed_sweep_and_spares_its_pack_mate(tmp_path):
    out = _local_sweep(tmp_path, "hydra.launcher.cells_per_job=2", "schedule=ft,lrw", "budget.epochs=3")
    assert out.returncode != 0
    assert "exited with code 2 without a result" in out.stderr, out.stderr[-3000:]
    assert [r["config"]["schedule"]["name"] for r in _records(tmp_path / "sweep")] == ["ft"]
