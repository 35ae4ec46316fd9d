"""One cell of the grid: baseline, prune, retrain under a schedule, evaluate, record.

The cell reports the *final-epoch* test accuracy: nothing is ever selected on the
test set. Its record (``record.json``) lands in the cell's cache folder, which makes
a finished cell free to ask for again, and in the Hydra output folder of the run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict

import torch
from omegaconf import DictConfig, OmegaConf

from benchmark import pruning, schedules, stages
from benchmark.data import DeviceLoader, load_splits
from benchmark.environment import environment
from benchmark.errors import ConfigError
from benchmark.identity import Identity, cell_name, comparison_name, identity
from benchmark.progress import MODES as PROGRESS_MODES
from benchmark.seeding import configure_backend, resolve_device, seed_everything
from benchmark.tracking import resolve_mode, tracked
from benchmark.train import atomic_save, train

log = logging.getLogger(__name__)
TERMINAL_STATUSES = ("finished", "diverged")


def validate(cfg: DictConfig) -> int:
    """Check every setting that can fail without data; return the budget T in epochs."""
    for stage in ("baseline", "prune", "retrain"):
        if cfg.seed[stage] < 0:
            raise ConfigError(f"seed.{stage}={cfg.seed[stage]} must be >= 0")
    if cfg.progress not in PROGRESS_MODES:
        raise ConfigError(f"progress={cfg.progress!r} is not one of: {', '.join(PROGRESS_MODES)}")
    if cfg.recipe.epochs <= 0 or cfg.recipe.batch_size <= 0:
        raise ConfigError("recipe.epochs and recipe.batch_size must be positive")
    resolve_mode(cfg.wandb.mode)
    epochs = schedules.retrain_epochs(cfg.budget, cfg.recipe)
    schedules.validate(cfg.schedule, cfg.recipe, epochs)
    return epochs


def read_record(path: Path) -> Dict[str, Any] | None:
    import json

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
        "environment": environment(device),
    }


def run_cell(cfg: DictConfig, output_dir: Path) -> Dict[str, Any]:
    """Run (or reuse) the cell that ``cfg`` describes and return its record."""
    began = time.perf_counter()
    epochs = validate(cfg)
    ident = identity(cfg, epochs)
    cell_dir = Path(cfg.paths.cache) / "cells" / ident.cell
    done = read_record(cell_dir / "record.json")
    if done is not None and done.get("status") in TERMINAL_STATUSES:
        log.info("cell %s already %s: reusing its record", ident.cell, done["status"])
        stages.write_json(done, output_dir / "record.json")
        return done

    device = resolve_device(cfg.device)
    configure_backend(device, cfg.deterministic)
    pruning.validate(cfg.pruner, stages.dense_model(cfg, device))  # before any data or training
    splits = load_splits(cfg.dataset)
    evals = {"test": DeviceLoader(splits.test, 500, device, augment=False)}
    if splits.val is not None:
        evals["val"] = DeviceLoader(splits.val, 500, device, augment=False)
    loader = DeviceLoader(splits.train, cfg.recipe.batch_size, device, augment=True, seed=cfg.seed.retrain)
    record = _record(cfg, ident, epochs, len(loader), device)
    record["status"] = "running"
    stages.write_json(record, output_dir / "record.json")

    with tracked(cfg.wandb, record["config"], record["name"], record["comparison"], ident.cell, output_dir) as tracker:
        def log_stage(stage: str):
            return lambda row: tracker.log({f"{stage}/{k}": v for k, v in row.items()})

        try:
            base = stages.baseline(cfg, ident, splits, evals, device, log_stage("baseline"))
        except stages.StageDiverged as error:
            record.update(status="diverged", diverged={"stage": error.stage, "epoch": error.epoch})
            stages.write_json(record, output_dir / "record.json")
            return record
        pruned = stages.pruned(cfg, ident, base, evals, device)
        model = pruned.model

        # A fresh optimizer for the pruned model (built inside train), as in the paper.
        started = time.perf_counter()
        seed_everything(cfg.seed.retrain)
        result = train(model, loader, epochs, cfg.schedule, cfg.recipe, cell_dir / "checkpoint.pt",
                       f"retrain {cfg.schedule.name}", cfg.progress, evals.get("val"), log_stage("retrain"))
        retrain_seconds = time.perf_counter() - started

        metrics: Dict[str, Any] = {"final_train_loss": result.final_train_loss}
        if result.status == "finished":
            metrics.update(stages.evaluate_splits(model, evals))
        else:
            record["diverged"] = {"stage": "retrain", "epoch": result.diverged_epoch}
        metrics["baseline_test_top1"] = base.meta["metrics"]["test_top1"]
        metrics["pruned_test_top1"] = pruned.meta["metrics"]["test_top1"]
        record.update(
            status=result.status,
            metrics=metrics,
            model={
                "params_before": base.meta["params"], "params_after": pruned.meta["params"],
                "flops_before": base.meta["flops"], "flops_after": pruned.meta["flops"],
                "sparsity": 1.0 - pruned.meta["params"] / base.meta["params"],
            },
            history=result.history,
            seconds={"baseline": base.meta["seconds"], "prune": pruned.meta["seconds"],
                     "retrain": retrain_seconds, "cell": time.perf_counter() - began},
        )
        tracker.summarise({k: v for k, v in metrics.items() if v is not None} | {"status": result.status})
        stages.write_json(record, cell_dir / "record.json")
        stages.write_json(record, output_dir / "record.json")
        if result.status == "finished":
            atomic_save({"history": pruned.pruning_history, "state_dict": model.state_dict()},
                        cell_dir / "model.pt")
        (cell_dir / "checkpoint.pt").unlink(missing_ok=True)
    return record
