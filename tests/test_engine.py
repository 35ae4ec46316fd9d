"""The grid engine: pinned identities, shared artefacts, locks, resume after SIGKILL, faults."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmark.artefacts import load_checkpoint, locked
from benchmark.cell import run_cell
from benchmark.tasks import cell_identity
from benchmark.launch.sweep_callbacks import summarise
from benchmark.plan import plan_cell
from tests.conftest import REPO, TINY, TINY_DATA, compose_config


def test_identities_are_pinned():
    """Changing what enters an identity orphans every cache: it must be a deliberate edit here.
    (Changed once in issue 12, when identities became rule-based and gained the precision, and
    the demo's alone in issue 22, when its preset moved to 16x16 images: docs/reproducibility.md.)"""
    # fp32 on the CPU: what precision=auto resolved to on every CPU before issue 30, and still
    # does on one without native bf16 (tests/test_precision.py pins auto on one with it).
    default = cell_identity(compose_config(["device=cpu", "precision=fp32"]), 40).as_dict()
    demo = cell_identity(compose_config(["+experiment=demo", "schedule=ft", "device=cpu", "precision=fp32"]), 10).as_dict()
    bf16 = cell_identity(compose_config(["device=cuda"]), 40).as_dict()
    assert default == {"baseline": "base-1015a669a525c005", "pruned": "prune-2bb1e63352767ccc", "cell": "cell-009d67efa423e82b"}
    assert demo == {"baseline": "base-10256712672f4350", "pruned": "prune-b231e19d27059aca", "cell": "cell-03317de0e99a66bb"}
    assert bf16["baseline"] == "base-60f848acff297416"


def test_language_model_identities_are_pinned():
    """The demo_lm cell's three identities, pinned before the language-model track moved onto the
    one engine (issue 28): a change here orphans every cached LM stage and must say which leaves
    left or joined the identity, and why.

    Changed once, in issue 28, when the language-model schemas stopped inheriting the image ones
    (benchmark.fields' DatasetGroup, ModelGroup, PrunerGroup): these leaves left every LM identity,
    all of them image settings the LM cell never read (and, since the task-leaves check, refused away
    from their defaults): dataset.num_classes, dataset.val_size, dataset.train_subset,
    dataset.split_seed; model.width, model.weights; pruner.variant, pruner.ratio, pruner.stage_ratios,
    pruner.skip_layers, pruner.taylor_batches, pruner.round_to, pruner.target_reduction,
    pruner.target_metric, pruner.widths_from. Before: base-d8f74bf55ca02669, prune-2100068c66a4bc7c,
    cell-3ac71f87f059f353 (ft) and cell-834a719f0b3c00a3 (clr). Image identities did not change."""
    ft = cell_identity(compose_config(["+experiment=demo_lm", "schedule=ft", "device=cpu"]), 2).as_dict()
    assert ft == {"baseline": "base-7d6a76c9be9ec804", "pruned": "prune-d06d637e2b0e264c", "cell": "cell-28cf22c07cf517b3"}
    # fp32 on CUDA too: the device is not hashed, its arithmetic is.
    fp32 = cell_identity(compose_config(["+experiment=demo_lm", "schedule=clr", "device=cuda", "precision=fp32"]), 2)
    assert fp32.as_dict() == {"baseline": "base-7d6a76c9be9ec804", "pruned": "prune-d06d637e2b0e264c",
                              "cell": "cell-51c222f8ea62faa1"}
    # CUDA with the fast path on trains in bf16 since the text task runs the shared fast path (issue 28;
    # it was fp32, this identity above, before): a new computation, so identities of its own.
    cuda = cell_identity(compose_config(["+experiment=demo_lm", "schedule=clr", "device=cuda", "fast=true"]), 2).as_dict()
    assert cuda == {"baseline": "base-493e556faf6348d6", "pruned": "prune-36d29777df87caa5", "cell": "cell-d2a859bfeb0f6c74"}


def test_identity_ignores_paths_logging_and_device_but_not_results():
    base = cell_identity(compose_config([]), 40)
    same = cell_identity(compose_config(["paths.cache=/elsewhere", "wandb.mode=disabled", "device=cpu", "progress=off",
                                    "dataset.root=/data", "budget=fraction", "budget.fraction=0.25"]), 40)
    assert same == base
    assert cell_identity(compose_config(["seed.retrain=1"]), 40).baseline == base.baseline
    assert cell_identity(compose_config(["seed.retrain=1"]), 40).cell != base.cell
    assert cell_identity(compose_config(["seed.baseline=1"]), 40).baseline != base.baseline
    assert cell_identity(compose_config(["pruner.ratio=0.3"]), 40).pruned != base.pruned


def _weights_digest(path: Path) -> str:
    state = torch.load(path, weights_only=True)["state_dict"]
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode() + state[key].cpu().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.cell
def test_every_schedule_starts_from_the_identical_pruned_weights(tiny_cfg, tmp_path):
    ft = run_cell(tiny_cfg("schedule=ft"), tmp_path / "a").as_dict()
    pruned_file = tmp_path / "cache" / "pruned" / ft["identity"]["pruned"] / "model.pt"
    before = _weights_digest(pruned_file)
    clr = run_cell(tiny_cfg("schedule=clr", "budget.epochs=1"), tmp_path / "b").as_dict()
    assert clr["identity"]["pruned"] == ft["identity"]["pruned"]
    assert _weights_digest(pruned_file) == before  # reused, not recomputed


HOLD_LOCK = """
import sys, time
from pathlib import Path
from benchmark.artefacts import locked
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.mark.subprocess
def test_a_lock_blocks_others_and_is_taken_over_when_its_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "stage")], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert holder.stdout.readline().strip() == "held"
    import fcntl

    with open(tmp_path / "stage" / ".lock", "w") as handle:
        with pytest.raises(BlockingIOError):
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    began = time.monotonic()
    with locked(tmp_path / "stage"):
        assert time.monotonic() - began < 30


@pytest.mark.cell
def test_a_cell_asked_for_twice_at_once_is_retrained_once_and_both_get_its_record(tiny_cfg, tmp_path, monkeypatch):
    """Two runs of one cell at the same time (two sweeps meeting in a grid): the second waits on the cell's
    lock and reuses the first one's record. Without the lock it resumed from the first one's per-epoch
    checkpoint and retrained the same cell beside it (seen in the findings_converged run)."""
    import threading

    from benchmark import cell

    calls, real = [], cell._retrain_rounds

    def slow_retrain(*args, **kwargs):
        calls.append(threading.get_ident())
        time.sleep(1.0)  # the other thread reaches the cell while this one retrains it
        return real(*args, **kwargs)

    monkeypatch.setattr(cell, "_retrain_rounds", slow_retrain)
    cell.run_cell(tiny_cfg("schedule=ft"), tmp_path / "warm")  # the baseline and pruned stages, shared with the cell
    calls.clear()
    cfg = tiny_cfg("schedule=clr")
    records, errors = {}, []

    def run(name):
        try:
            records[name] = cell.run_cell(cfg, tmp_path / name).as_dict()
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
        time.sleep(0.2)
    for thread in threads:
        thread.join(timeout=300)
    assert not errors and set(records) == {"a", "b"}
    assert len(calls) == 1, "the cell was retrained by both runs"
    assert records["a"]["metrics"] == records["b"]["metrics"]
    assert records["a"]["identity"]["cell"] == records["b"]["identity"]["cell"]


def _cli(args, cwd, wandb: str = "disabled"):
    env = {**os.environ, "WANDB_MODE": wandb, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(REPO / "benchmark" / "run.py"), *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _checkpointed_epoch(pattern: str, root: Path) -> int:
    """The last epoch a training checkpoint under ``root`` holds (0 while there is none)."""
    found = list(root.glob(pattern))
    state = load_checkpoint(found[0]) if found else None
    return state["epoch"] if state else 0


def _kill_and_resume(tmp_path: Path, args, ready) -> str:
    """Run the cell whole; run it again, SIGKILL it once ``ready(cache)`` holds, rerun it to the end,
    with W&B offline as a user has it. Asserts both final records agree and that the rerun
    continues the killed run's W&B run; returns the resumed run's log."""
    whole = _cli([*args, f"paths.cache={tmp_path / 'c1'}", f"hydra.run.dir={tmp_path / 'r1'}"], tmp_path, "offline")
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    cut = _cli([*args, f"paths.cache={tmp_path / 'c2'}", f"hydra.run.dir={tmp_path / 'r2'}"], tmp_path, "offline")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and cut.poll() is None and not ready(tmp_path / "c2"):
        time.sleep(0.05)
    assert cut.poll() is None, "the run ended before the kill point: the test no longer kills it mid-way"
    cut.send_signal(signal.SIGKILL)
    cut.wait()
    assert not list((tmp_path / "c2" / "cells").glob("*/record.json")), "killed after the cell finished"
    again = _cli([*args, f"paths.cache={tmp_path / 'c2'}", f"hydra.run.dir={tmp_path / 'r3'}"], tmp_path, "offline")
    assert again.wait(timeout=300) == 0, again.stderr.read()
    killed, resumed = (list((tmp_path / r).glob("wandb/offline-run-*")) for r in ("r2", "r3"))
    assert len(killed) == 1 and len(resumed) == 1  # W&B was on in both, not silently off
    assert killed[0].name.rsplit("-", 1)[1] == resumed[0].name.rsplit("-", 1)[1]  # the same W&B run id
    a = json.loads((tmp_path / "r1" / "record.json").read_text())
    b = json.loads((tmp_path / "r3" / "record.json").read_text())
    assert b["status"] == "finished" and a["metrics"] == b["metrics"]
    base_a, base_b = (json.loads(next((tmp_path / c).glob("baselines/*/meta.json")).read_text()) for c in ("c1", "c2"))
    assert base_a["metrics"] == base_b["metrics"]
    assert [h["train_loss"] for h in base_a["history"]] == [h["train_loss"] for h in base_b["history"]]
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    assert [r.get("metrics") for r in a.get("rounds", [])] == [r.get("metrics") for r in b.get("rounds", [])]
    return (tmp_path / "r3" / "run.log").read_text()


KILLABLE = [*TINY_DATA, *[o for o in TINY if not o.startswith(("budget", "recipe", "wandb"))], "dataset.train_size=512",
            "recipe.epochs=4", "recipe.milestones=[2]", "recipe.batch_size=64", "latency.repeats=0"]


@pytest.mark.cell
@pytest.mark.subprocess
def test_a_cell_killed_with_sigkill_during_retraining_resumes_to_the_uninterrupted_record(tmp_path):
    log = _kill_and_resume(tmp_path, [*KILLABLE, "schedule=clr", "budget.epochs=6"],
                           lambda cache: _checkpointed_epoch("cells/*/checkpoint-round0.pt", cache) >= 2)
    assert "resuming after epoch" in log


@pytest.mark.cell
@pytest.mark.subprocess
def test_a_cell_killed_with_sigkill_during_baseline_training_resumes_to_the_uninterrupted_record(tmp_path):
    log = _kill_and_resume(tmp_path, [*KILLABLE, "schedule=ft", "budget.epochs=1"],
                           lambda cache: _checkpointed_epoch("baselines/*/checkpoint.pt", cache) >= 2)
    assert "baseline: resuming after epoch 2 of 4" in log or "baseline: resuming after epoch 3 of 4" in log


@pytest.mark.cell
@pytest.mark.subprocess
def test_a_cell_killed_with_sigkill_between_iterative_rounds_resumes_to_the_uninterrupted_record(tmp_path):
    log = _kill_and_resume(tmp_path, [*KILLABLE, "schedule=lrw", "budget.epochs=2", "pruner.rounds=3"],
                           lambda cache: bool(list(cache.glob("cells/*/round0.pt"))))
    assert "iterative pruning: resuming after round" in log


@pytest.mark.cell
def test_a_corrupt_checkpoint_is_reported_and_recomputed(tiny_cfg, tmp_path, caplog):
    cfg = tiny_cfg("schedule=ft")
    first = run_cell(cfg, tmp_path / "a").as_dict()
    base_file = tmp_path / "cache" / "baselines" / first["identity"]["baseline"] / "model.pt"
    base_file.write_bytes(base_file.read_bytes()[:100])  # truncated
    (tmp_path / "cache" / "cells" / first["identity"]["cell"] / "record.json").unlink()
    second = run_cell(cfg, tmp_path / "b").as_dict()
    assert "unreadable checkpoint" in caplog.text
    assert second["metrics"] == first["metrics"]
    assert load_checkpoint(base_file) is not None


@pytest.mark.cell
def test_iterative_pruning_records_every_round(tiny_cfg, tmp_path):
    record = run_cell(tiny_cfg("pruner=mwp", "pruner.sparsity=0.3", "pruner.rounds=3", "budget.epochs=1"), tmp_path / "o").as_dict()
    rounds = record["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert [r["conv_sparsity"] for r in rounds] == pytest.approx([0.3, 0.51, 0.657], abs=2e-3)
    assert all("test_top1" in r["metrics"] for r in rounds)
    assert record["model"]["conv_sparsity"] == pytest.approx(0.657, abs=2e-3)
    final = torch.load(tmp_path / "cache" / "cells" / record["identity"]["cell"] / "model.pt", weights_only=True)
    for key, mask in final["state_dict"].items():  # pruned weights are exactly zero after retraining
        if key.endswith("weight_mask"):
            orig = final["state_dict"][key.replace("_mask", "_orig")]
            assert torch.count_nonzero((orig * mask)[mask == 0]) == 0


def test_sweep_plan_counts_shared_stages_once():
    plans = [plan_cell(compose_config(["+experiment=demo", f"schedule={s}", f"pruner={p}"]))
             for s in ("ft", "clr") for p in ("l1", "random")]
    for p in plans:
        p["cached"] = {"baseline": False, "pruned": False, "cell": False}
    totals = summarise(plans + plans[:1])  # a repeated cell counts once
    assert totals == {"cells": 4, "cells_finished": 0, "baselines_to_train": 1, "pruned_models_to_compute": 2,
                      "epochs_to_train": 12 + 4 * 6}  # the demo: E = 12, T = 6


@pytest.mark.subprocess
def test_an_unwritable_output_folder_fails_with_a_clear_message(tmp_path):
    blocked = tmp_path / "ro"
    blocked.mkdir()
    blocked.chmod(0o500)
    if os.access(blocked, os.W_OK):  # root ignores permissions: use a path under a file instead
        blocked = tmp_path / "file"
        blocked.write_text("")
    for where in ([f"hydra.run.dir={blocked / 'run'}", f"paths.cache={tmp_path / 'c'}"],
                  [f"hydra.run.dir={tmp_path / 'run'}", f"paths.cache={blocked / 'cache'}"]):
        out = _cli([*TINY_DATA, *TINY, *where], tmp_path)
        assert out.wait(timeout=120) == 3
        err = out.stderr.read()
        assert err.startswith("error: cannot write") and str(blocked) in err and err.count("\n") == 1
