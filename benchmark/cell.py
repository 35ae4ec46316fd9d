"""One cell of the grid: baseline, prune, retrain under a schedule, evaluate, record.

The cell reports the *final-epoch* test accuracy: nothing is ever selected on the
test set. Iterative pruning (``pruner.rounds > 1``) repeats prune-then-retrain, each
round with the cell's schedule over the budget T, and records every round. The record
(``record.json``) lands in the cell's cache folder, which makes a finished cell free to
ask for again, and in the Hydra output folder of the run.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from benchmark import distributed, pruning, schedules, stages, validation
from benchmark.artefacts import atomic_save, load_checkpoint, write_json
from benchmark.data import Data, image_size, open_data
from benchmark.device import configure_backend, resolve_device
from benchmark.environment import environment
from benchmark.identity import Identity, cell_name, comparison_name, identity, payload_file
from benchmark.seeding import seed_everything
from benchmark.tracking import Tracker, resolve_mode, tracked
from benchmark.train import train

log = logging.getLogger(__name__)
TERMINAL_STATUSES = ("finished", "diverged")


def validate(cfg: DictConfig) -> int:
    """Check every setting that can fail without data; return the budget T in epochs. Value
    ranges come from the schema (:mod:`benchmark.validation`); relations between stages here."""
    epochs = schedules.retrain_epochs(cfg.budget, cfg.recipe)
    validation.check(cfg, epochs)
    resolve_mode(cfg.wandb.mode)
    schedules.validate(cfg.schedule, cfg.recipe, epochs)
    pruning.resolve(cfg.pruner, cfg.model.name)
    return epochs


def read_record(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _record(cfg: DictConfig, ident: Identity, epochs: int, steps: int, device: torch.device) -> Dict[str, Any]:
    return {
        "identity": ident.as_dict(),
        "name": cell_name(cfg, epochs),
        "comparison": comparison_name(cfg, epochs),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "seeds": OmegaConf.to_container(cfg.seed),
        "budget_epochs": epochs,
        "steps_per_epoch": steps,
        "environment": environment(device) | {"world_size": distributed.world_size(),
                                              "precision": ident.payloads["baseline"]["precision"]},
    }


def _taylor_batches(cfg: DictConfig, data: Data) -> Callable:
    """The first training batches of the pruning seed: what Taylor-FO-BN scores over."""
    return lambda: (batch for _, batch in zip(range(cfg.pruner.taylor_batches), data.train(cfg.seed.prune).epoch(0)))


def _retrain_rounds(cfg: DictConfig, spec: pruning.PruningSpec, start: stages.Stage, loader: Any,
                    evals: Dict[str, Any], epochs: int, cell_dir: Path, tracker: Tracker,
                    batches: Callable, device: torch.device) -> Dict[str, Any]:
    """Retrain the pruned model; for iterative pruning, prune again and retrain each round.
    A finished intermediate round is saved, so an interrupted cell resumes after it."""
    model, history, rounds, first = start.model, start.pruning_history, [], 0
    for r in reversed(range(spec.rounds - 1)):
        saved = load_checkpoint(cell_dir / f"round{r}.pt")
        if saved is not None:
            model = pruning.rebuild(stages.dense_model(cfg, device), saved["history"], image_size(cfg.dataset))
            model.load_state_dict(saved["state_dict"])
            history, rounds, first = saved["history"], json.loads(saved["rounds"]), r + 1
            break
    for r in range(first, spec.rounds):
        if r > 0:
            history = pruning.prune(model, spec, cfg.seed.prune + r, batches, history=history,
                                    image_size=image_size(cfg.dataset))
        info: Dict[str, Any] = {"round": r, **stages.model_counts(model, image_size(cfg.dataset))}
        seed_everything(cfg.seed.retrain + r)
        desc = f"retrain {cfg.schedule.name}" + (f" round {r + 1}/{spec.rounds}" if spec.rounds > 1 else "")

        def log_epoch(row: Dict[str, float], offset: int = r * epochs) -> None:
            tracker.log({f"retrain/{k}": v for k, v in row.items()} | {"retrain/epoch": offset + row["epoch"]})

        # A fresh optimizer for the pruned model is built inside train, as in the paper.
        result = train(model, loader, epochs, cfg.schedule, cfg.recipe, cell_dir / f"checkpoint-round{r}.pt",
                       desc, cfg.progress, evals.get("val"), log_epoch, cfg.fast, cfg.compile_min_steps)
        info["history"] = result.history
        if result.status != "finished":
            rounds.append(info)
            return {"status": result.status, "model": model, "history": history, "rounds": rounds,
                    "diverged": {"stage": "retrain", "round": r, "epoch": result.diverged_epoch}}
        info["metrics"] = stages.evaluate_splits(model, evals, cfg.fast)
        rounds.append(info)
        if r < spec.rounds - 1:
            atomic_save({"history": history, "state_dict": model.state_dict(), "rounds": json.dumps(rounds)},
                        cell_dir / f"round{r}.pt")
        (cell_dir / f"checkpoint-round{r}.pt").unlink(missing_ok=True)
    return {"status": "finished", "model": model, "history": history, "rounds": rounds}


def run_cell(cfg: DictConfig, output_dir: Path) -> Dict[str, Any]:
    """Run (or reuse) the cell that ``cfg`` describes and return its record."""
    began = time.perf_counter()
    epochs = validate(cfg)
    ident = identity(cfg, epochs)
    cell_dir = Path(cfg.paths.cache) / "cells" / ident.cell
    done = read_record(cell_dir / "record.json")
    if done is not None and done.get("status") in TERMINAL_STATUSES:
        log.info("cell %s already %s: reusing its record", ident.cell, done["status"])
        write_json(done, output_dir / "record.json")
        return done

    device = resolve_device(cfg.device)
    if distributed.init_from_env(device):  # several processes: DDP, rank 0 writes and logs
        device = distributed.local_device(device)
    configure_backend(device, cfg.deterministic)
    spec = stages.pruning_spec(cfg, stages.dense_model(cfg, device))  # fails before any data or training
    data = open_data(cfg.dataset, cfg.recipe.batch_size, device)
    evals = data.evals
    loader = data.train(cfg.seed.retrain)
    record = _record(cfg, ident, epochs, len(loader), device)
    record["status"] = "running"
    write_json(record, output_dir / "record.json")

    wandb_cfg = cfg.wandb if distributed.is_main() else OmegaConf.create({"mode": "disabled"})
    with tracked(wandb_cfg, record["config"], record["name"], record["comparison"], ident.cell, output_dir) as tracker:
        try:
            base = stages.baseline(cfg, ident, data, device,
                                   lambda row: tracker.log({f"baseline/{k}": v for k, v in row.items()}))
        except stages.StageDiverged as error:
            record.update(status="diverged", diverged={"stage": error.stage, "epoch": error.epoch})
            write_json(record, output_dir / "record.json")
            return record
        batches = _taylor_batches(cfg, data)
        pruned = stages.pruned(cfg, ident, spec, base, evals, device, batches)
        started = time.perf_counter()
        outcome = _retrain_rounds(cfg, spec, pruned, loader, evals, epochs, cell_dir, tracker, batches, device)
        retrain_seconds = time.perf_counter() - started
        final = outcome["rounds"][-1]
        model: nn.Module = outcome["model"]

        metrics: Dict[str, Any] = {"final_train_loss": final["history"][-1]["train_loss"] if final["history"] else None}
        if outcome["status"] == "finished":
            metrics.update(final["metrics"])
        else:
            record["diverged"] = outcome["diverged"]
        metrics["baseline_test_top1"] = base.meta["metrics"]["test_top1"]
        metrics["pruned_test_top1"] = pruned.meta["metrics"]["test_top1"]
        after = final if spec.rounds > 1 else pruned.meta
        record.update(
            status=outcome["status"],
            metrics=metrics,
            model={
                "params_before": base.meta["params"], "params_after": after["params"],
                "flops_before": base.meta["flops"], "flops_after": after["flops"],
                "params_reduction_pct": 100.0 * (1 - after["params"] / base.meta["params"]),
                "flops_reduction_pct": 100.0 * (1 - after["flops"] / base.meta["flops"]),
                "sparsity": 1.0 - after["params"] / base.meta["params"],
                "conv_sparsity": after["conv_sparsity"],
                "spec": pruned.meta.get("spec"),
                "latency_dense": base.meta.get("latency"),
                "latency_pruned": stages.latency(cfg, model) if spec.rounds > 1 else pruned.meta.get("latency"),
            },
            history=final["history"],
            seconds={"baseline": base.meta["seconds"], "prune": pruned.meta["seconds"],
                     "retrain": retrain_seconds, "cell": time.perf_counter() - began},
        )
        if spec.rounds > 1:
            record["rounds"] = outcome["rounds"]
        summary = {k: v for k, v in metrics.items() if v is not None} | {"status": outcome["status"]}
        summary |= {f"model/{k}": v for k, v in record["model"].items() if isinstance(v, (int, float))}
        summary |= {f"seconds/{k}": v for k, v in record["seconds"].items()}
        tracker.summarise(summary)
        if outcome["status"] == "finished":
            atomic_save({"history": outcome["history"], "state_dict": model.state_dict()}, cell_dir / "model.pt")
            for r in range(spec.rounds - 1):
                (cell_dir / f"round{r}.pt").unlink(missing_ok=True)
        write_json(payload_file(ident, "cell"), cell_dir / "identity.json")
        write_json(record, cell_dir / "record.json")
        write_json(record, output_dir / "record.json")
    return record
