"""One cell of the grid, for every task: baseline, prune, retrain under a schedule, evaluate, record.

The cell reports the *final-epoch* test metric (top-1, or a language model's perplexity):
nothing is ever selected on the test set. What differs between tasks (the data, the dense
model, how it is pruned, what retraining trains, what the record reports) is asked of the
cell's task (:mod:`benchmark.tasks`); the cell never asks which task it runs. Iterative pruning (``pruner.rounds > 1``) repeats prune-then-retrain, each
round with the cell's schedule over the budget T, and records every round. The record
(:class:`benchmark.records.CellRecord`) lands in the cell's cache folder, which makes a
finished cell free to ask for again, and in the Hydra output folder of the run.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from benchmark import distributed, preparation, stages
from benchmark.artefacts import atomic_save, load_checkpoint, locked
from benchmark.device import configure_backend, resolve_device, seed_everything
from benchmark.identity import payload_file
from benchmark.records import CellRecord, finish_cell, new_record, reuse_finished, write_record
from benchmark.schema import BenchmarkConf
from benchmark.tasks import Task, cell_identity, task_of
from benchmark.tracking import Tracker, WandbConf, tracked
from benchmark.train import TrainSettings, train
from benchmark.validation import validate  # the one validation phase; `benchmark.cell.validate` for callers

log = logging.getLogger(__name__)


@dataclass
class Retrained:
    """What the retraining rounds leave: the model, its pruning state, one entry per round."""

    status: str
    model: nn.Module
    history: Dict[str, Any]  # the task's pruning state: a pruning history, or masks
    rounds: List[Dict[str, Any]]
    diverged: Optional[Dict[str, Any]] = None


def _resume_rounds(cfg: BenchmarkConf, task: Task, rounds: int, start: stages.Stage, cell_dir: Path,
                   device: torch.device) -> Retrained:
    """The model after the last finished intermediate round (saved), or the pruned model."""
    for r in reversed(range(rounds - 1)):
        saved = load_checkpoint(cell_dir / f"round{r}.pt")
        if saved is not None:
            model = task.rebuild(cfg, device, saved["history"])
            model.load_state_dict(saved["state_dict"])
            log.info("iterative pruning: resuming after round %d of %d", r + 1, rounds)
            return Retrained("running", model, saved["history"], json.loads(saved["rounds"]))
    return Retrained("running", start.model, start.pruning, [])


def _retrain_rounds(cfg: BenchmarkConf, task: Task, spec: Any, base: stages.Stage, start: stages.Stage,
                    loader: Any, data: Any, epochs: int, cell_dir: Path, tracker: Tracker,
                    device: torch.device) -> Retrained:
    """Retrain the pruned model; for iterative pruning, prune again and retrain each round.
    A finished intermediate round is saved, so an interrupted cell resumes after it."""
    total = task.rounds(spec)
    state = _resume_rounds(cfg, task, total, start, cell_dir, device)
    model, history, rounds = state.model, state.history, state.rounds
    main = distributed.is_main()
    for r in range(len(rounds), total):
        before = base.model
        if r > 0:
            before = copy.deepcopy(model) if cfg.schedule.name == "allr" else model  # ALLR's d compares to it
            history = task.prune_again(cfg, spec, model, data, history, r)
        info: Dict[str, Any] = {"round": r, **task.counts(cfg, model, history)}
        seed_everything(cfg.seed.retrain + r)
        prep = preparation.prepare(cfg, base, before, model, history, epochs, loader,
                                   lambda seed: task.fresh(cfg, device, seed), task.input_size(cfg), r)
        info.update(prep.info)
        model = task.retrainable(cfg, model, history)  # what retraining updates (a regime's adapters)
        desc = f"retrain {cfg.schedule.name}{task.label(cfg, ' ')}" + (f" round {r + 1}/{total}" if total > 1 else "")

        def log_epoch(row: Dict[str, float], offset: int = r * epochs) -> None:
            tracker.log({f"retrain/{k}": v for k, v in row.items()} | {"retrain/epoch": offset + row["epoch"]})

        # A fresh optimizer for the pruned model is built inside train, as in the paper.
        hook = task.step_hook(cfg, spec, model, history, r, prep.epochs * len(loader))  # AGP's or a regime's masks
        result = train(model, loader, epochs=prep.epochs, schedule=prep.schedule, recipe=cfg.recipe,
                       checkpoint=cell_dir / f"checkpoint-round{r}.pt", desc=desc, settings=TrainSettings.of(cfg),
                       val_loader=data.evals.get("val"), on_epoch=log_epoch, criterion=prep.criterion,
                       step_hook=hook, objective=task.retraining_objective(cfg, base.model, model))
        info["history"] = result.history
        info.update(task.after_round(cfg, spec, model, history, hook))
        if prep.distiller is not None:
            info["distill"] = prep.distiller.summary(max(1, len(result.history)))
        if result.status != "finished":
            rounds.append(info)
            return Retrained(result.status, model, history, rounds,
                             {"stage": "retrain", "round": r, "epoch": result.diverged_epoch})
        model = task.finish(cfg, model, history)  # a regime's adapters merged, masks applied
        info["metrics"] = task.scores(cfg, model, data)
        rounds.append(info)
        if r < total - 1:
            atomic_save({"history": history, "state_dict": model.state_dict(), "rounds": json.dumps(rounds)},
                        cell_dir / f"round{r}.pt", enabled=main)
        (cell_dir / f"checkpoint-round{r}.pt").unlink(missing_ok=True)
    return Retrained("finished", model, history, rounds)


def _complete(record: CellRecord, cfg: BenchmarkConf, task: Task, spec: Any, base: stages.Stage,
              pruned: stages.Stage, outcome: Retrained, seconds: Dict[str, float]) -> CellRecord:
    """Fill the record of a cell whose retraining ended (finished or diverged)."""
    final = outcome.rounds[-1]
    record.status, record.diverged = outcome.status, outcome.diverged
    record.metrics = {"final_train_loss": final["history"][-1]["train_loss"] if final["history"] else None}
    if outcome.status == "finished":
        record.metrics.update(final["metrics"])
    task.complete(record, cfg, spec, base, pruned, outcome)
    record.history, record.seconds = final["history"], seconds
    # What the pruning or the baseline decided (ALLR's d, s and rate; KD's extra seconds; Scratch's epochs).
    record.retraining = {k: final[k] for k in preparation.RECORDED if k in final} | task.retraining(cfg, final)
    record.rounds = outcome.rounds if task.rounds(spec) > 1 else None
    return record


def run_cell(cfg: BenchmarkConf, output_dir: Path) -> CellRecord:
    """Run (or reuse) the cell that ``cfg`` describes and return its record."""
    began = time.perf_counter()
    task = task_of(cfg)
    epochs = validate(cfg)
    ident = cell_identity(cfg, epochs)  # resolves pretrained weights: an unknown name fails here, in one line
    cell_dir = Path(cfg.paths.cache) / "cells" / ident.cell
    done = reuse_finished(cell_dir, output_dir)
    if done is not None:
        return done
    device = resolve_device(cfg.device)
    if distributed.init_from_env(device):  # several processes: DDP, rank 0 writes and logs
        device = distributed.local_device(device)
    configure_backend(device, cfg.deterministic)
    spec = task.spec(cfg, device)  # fails before any data or training
    data = task.open_data(cfg, device)
    loader = data.train(cfg.seed.retrain)
    # Held while the cell's stages run, as each stage's own lock is: a second process asking for this cell
    # waits, then reuses its record, instead of resuming from the first one's per-epoch checkpoint and
    # retraining the cell beside it.
    with distributed.main_only(locked(cell_dir)):
        if distributed.world_size() == 1:  # under DDP every rank must take the same path: rank 0 alone re-reads nothing
            done = reuse_finished(cell_dir, output_dir)  # finished by another process while this one waited
            if done is not None:
                return done
        return _run_stages(cfg, task, epochs, ident, cell_dir, output_dir, began, device, spec, data, loader)


def _run_stages(cfg: BenchmarkConf, task: Task, epochs: int, ident: Any, cell_dir: Path, output_dir: Path,
                began: float, device: torch.device, spec: Any, data: Any, loader: Any) -> CellRecord:
    """The cell's stages and record, under its lock."""
    main = distributed.is_main()
    record = new_record(cfg, ident, epochs, len(loader), device)
    record.name += task.label(cfg, "-")
    record.comparison += task.label(cfg, "-")
    write_record(record, output_dir, enabled=main)

    wandb_cfg = cfg.wandb if main else WandbConf(mode="disabled")
    with tracked(wandb_cfg, record.config, record.name, record.comparison, ident.cell, output_dir) as tracker:
        try:
            base = stages.baseline(cfg, ident, data, device,
                                   lambda row: tracker.log({f"baseline/{k}": v for k, v in row.items()}))
        except stages.StageDiverged as error:
            record.status, record.diverged = "diverged", {"stage": error.stage, "epoch": error.epoch}
            record.seconds = {"cell": time.perf_counter() - began}
            return finish_cell(record, tracker, cell_dir, output_dir, enabled=main, payload=payload_file(ident, "cell"))
        pruned = stages.pruned(cfg, ident, spec, base, data, device)
        started = time.perf_counter()
        outcome = _retrain_rounds(cfg, task, spec, base, pruned, loader, data, epochs, cell_dir, tracker, device)
        seconds = {"baseline": base.meta["seconds"], "prune": pruned.meta["seconds"],
                   "retrain": time.perf_counter() - started, "cell": time.perf_counter() - began}
        _complete(record, cfg, task, spec, base, pruned, outcome, seconds)
        if outcome.status == "finished":
            atomic_save({"history": outcome.history, "state_dict": outcome.model.state_dict()}, cell_dir / "model.pt",
                        enabled=main)
            for r in range(len(outcome.rounds) - 1):
                (cell_dir / f"round{r}.pt").unlink(missing_ok=True)
        return finish_cell(record, tracker, cell_dir, output_dir, enabled=main, payload=payload_file(ident, "cell"))
