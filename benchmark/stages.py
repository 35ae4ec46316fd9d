"""The cached stages a cell stands on: the baseline and the pruned model, for every task.

Both live under the cache root by identity (``baselines/<id>/``, ``pruned/<id>/``), so
every cell of a comparison reuses one baseline, and every schedule and budget of one
pruned model starts from the identical pruned weights. Each stage takes an exclusive
file lock while it computes: concurrent cells wait instead of training the same
baseline twice, and the kernel releases the lock of a process that dies. What differs between
tasks (the dense model, its scores and counts, how it is pruned and rebuilt) is asked of the
cell's task (:mod:`benchmark.tasks`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import torch
from torch import nn

from benchmark import distributed
from benchmark.artefacts import atomic_save, load_checkpoint, locked, read_json, write_json
from benchmark.identity import Identity, payload_file
from benchmark.retraining import rewinding, schedules
from benchmark.retraining.schema import OriginalScheduleConf
from benchmark.schema import BenchmarkConf
from benchmark.tasks import task_of
from benchmark.train import TrainResult, TrainSettings, train

log = logging.getLogger(__name__)


class StageDiverged(RuntimeError):
    """A cached stage (the baseline) could not be trained: its loss went non-finite."""

    def __init__(self, stage: str, epoch: Optional[int]) -> None:
        super().__init__(f"{stage} diverged at epoch {epoch}")
        self.stage, self.epoch = stage, epoch


@dataclass
class Stage:
    model: nn.Module
    meta: Dict[str, Any]
    pruning: Dict[str, Any] = field(default_factory=dict)  # the task's pruning state: a history, or masks


def _train_baseline(cfg: BenchmarkConf, model: nn.Module, folder: Path, data: Any,
                    log_epoch: Callable[[Dict[str, float]], None]) -> TrainResult:
    """Train the dense model with the original recipe, keeping the weight snapshots of the
    epochs E - T that weight rewinding (``schedule=wr``) needs."""
    keep = rewinding.snapshot_epochs(cfg.rewind_epochs, cfg.schedule.name, cfg.recipe.epochs,
                                     schedules.retrain_epochs(cfg.budget, cfg.recipe))
    snapshot = rewinding.snapshotter(model, folder, keep)

    def on_epoch(row: Dict[str, float]) -> None:
        snapshot(row)
        log_epoch(row)

    return train(model, data.train(cfg.seed.baseline), epochs=cfg.recipe.epochs, schedule=OriginalScheduleConf(),
                 recipe=cfg.recipe, checkpoint=folder / "checkpoint.pt", desc="baseline",
                 settings=TrainSettings.of(cfg), val_loader=data.evals.get("val"), on_epoch=on_epoch,
                 objective=task_of(cfg).objective)


def baseline(cfg: BenchmarkConf, ident: Identity, data: Any, device: torch.device,
             log_epoch: Callable[[Dict[str, float]], None]) -> Stage:
    """The trained dense model: loaded from the cache, trained with the original recipe, or
    loaded (``model.weights``) or pretrained, evaluated."""
    task = task_of(cfg)
    folder = Path(cfg.paths.cache) / "baselines" / ident.baseline
    with distributed.main_only(locked(folder)):
        saved = load_checkpoint(folder / "model.pt")
        model = task.dense(cfg, device)
        if saved is not None:
            if "state_dict" in saved:  # absent where the task reads pretrained weights from their source
                model.load_state_dict(saved["state_dict"])
            return Stage(model, saved["meta"])
        began, history, trace = time.perf_counter(), [], []
        diverged = read_json(folder / "diverged.json")
        if diverged is not None:  # the same settings diverge again: no need to retrain to find out
            raise StageDiverged("baseline", diverged["epoch"])
        source = task.source(cfg, model)
        if source == "trained":
            result = _train_baseline(cfg, model, folder, data, log_epoch)
            if result.status != "finished":
                write_json({"stage": "baseline", "epoch": result.diverged_epoch}, folder / "diverged.json",
                           enabled=distributed.is_main())
                (folder / "checkpoint.pt").unlink(missing_ok=True)
                raise StageDiverged("baseline", result.diverged_epoch)
            history, trace = result.history, result.lr_trace
        meta = {"identity": ident.baseline, "source": source, "metrics": task.scores(cfg, model, data),
                "history": history,
                "lr_trace": trace,  # the rate of every iteration, as [lr, count] runs: exact LRW replays it
                "seconds": time.perf_counter() - began, **task.baseline_meta(cfg, model)}
        main = distributed.is_main()
        weights = {"state_dict": model.state_dict()} if task.keeps_weights(cfg) else {}
        atomic_save(weights | {"meta": meta}, folder / "model.pt", enabled=main)
        write_json({k: v for k, v in meta.items() if k != "lr_trace"}, folder / "meta.json", enabled=main)
        write_json(payload_file(ident, "baseline"), folder / "identity.json", enabled=main)
        (folder / "checkpoint.pt").unlink(missing_ok=True)
        return Stage(model, meta)


def pruned(cfg: BenchmarkConf, ident: Identity, spec: Any, base: Stage, data: Any, device: torch.device) -> Stage:
    """The model after the first pruning round (``spec``: the task's resolved pruner), stored as
    its pruning state (a history, or masks) plus weights."""
    task = task_of(cfg)
    folder = Path(cfg.paths.cache) / "pruned" / ident.pruned
    with distributed.main_only(locked(folder)):
        saved = load_checkpoint(folder / "model.pt")
        if saved is not None:
            model = task.rebuild(cfg, device, saved[task.pruning_key])
            model.load_state_dict(saved["state_dict"])
            return Stage(model, saved["meta"], saved[task.pruning_key])
        began = time.perf_counter()
        model = task.dense(cfg, device)
        model.load_state_dict(base.model.state_dict())
        model, state = task.prune(cfg, spec, model, data)
        metrics = task.scores(cfg, model, data)
        seconds = time.perf_counter() - began  # pruning and scoring; not the latency the meta measures
        meta = {"identity": ident.pruned, **task.pruned_meta(cfg, spec, model, state), "metrics": metrics,
                "seconds": seconds}
        main = distributed.is_main()
        atomic_save({task.pruning_key: state, "state_dict": model.state_dict(), "meta": meta}, folder / "model.pt",
                    enabled=main)
        write_json(meta, folder / "meta.json", enabled=main)
        write_json(payload_file(ident, "pruned"), folder / "identity.json", enabled=main)
        return Stage(model, meta, state)
