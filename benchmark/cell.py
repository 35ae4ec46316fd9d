"""One cell of the grid: baseline, prune, retrain under a schedule, evaluate, record.

The cell reports the *final-epoch* test accuracy: nothing is ever selected on the
test set. Iterative pruning (``pruner.rounds > 1``) repeats prune-then-retrain, each
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

from benchmark import distributed, lm, preparation, pruning, stages
from benchmark.artefacts import atomic_save, load_checkpoint
from benchmark.retraining.convergence import baseline_summary
from benchmark.data import Data, Loader, image_size, open_data
from benchmark.device import configure_backend, resolve_device
from benchmark.identity import payload_file
from benchmark.tasks import cell_identity
from benchmark.models import build_model
from benchmark.records import CellRecord, finish_cell, new_record, reductions, reuse_finished, write_record
from benchmark.schema import BenchmarkConf, WandbConf
from benchmark.seeding import seed_everything
from benchmark.tracking import Tracker, tracked
from benchmark.train import TrainSettings, train
from benchmark.validation import validate  # the one validation phase; `benchmark.cell.validate` for callers

log = logging.getLogger(__name__)


@dataclass
class Retrained:
    """What the retraining rounds leave: the model, its pruning history, one entry per round."""

    status: str
    model: nn.Module
    history: Dict[str, Any]
    rounds: List[Dict[str, Any]]
    diverged: Optional[Dict[str, Any]] = None


def _resume_rounds(cfg: BenchmarkConf, spec: pruning.PruningSpec, start: stages.Stage, cell_dir: Path,
                   device: torch.device) -> Retrained:
    """The model after the last finished intermediate round (saved), or the pruned model."""
    for r in reversed(range(spec.rounds - 1)):
        saved = load_checkpoint(cell_dir / f"round{r}.pt")
        if saved is not None:
            model = pruning.rebuild(stages.dense_model(cfg, device), saved["history"], image_size(cfg.dataset))
            model.load_state_dict(saved["state_dict"])
            log.info("iterative pruning: resuming after round %d of %d", r + 1, spec.rounds)
            return Retrained("running", model, saved["history"], json.loads(saved["rounds"]))
    return Retrained("running", start.model, start.pruning_history, [])


def _dense(cfg: BenchmarkConf, device: torch.device, seed: int) -> nn.Module:
    """A dense model initialised from ``seed`` (weight rewinding loads into it; Scratch keeps its weights)."""
    seed_everything(seed)
    return build_model(cfg.model, cfg.dataset.num_classes).to(device)


def _retrain_rounds(cfg: BenchmarkConf, spec: pruning.PruningSpec, base: stages.Stage, start: stages.Stage,
                    loader: Loader, data: Data, epochs: int, cell_dir: Path, tracker: Tracker,
                    device: torch.device) -> Retrained:
    """Retrain the pruned model; for iterative pruning, prune again and retrain each round.
    A finished intermediate round is saved, so an interrupted cell resumes after it."""
    state = _resume_rounds(cfg, spec, start, cell_dir, device)
    model, history, rounds = state.model, state.history, state.rounds
    size, main = image_size(cfg.dataset), distributed.is_main()
    for r in range(len(rounds), spec.rounds):
        before = base.model
        if r > 0:
            before = copy.deepcopy(model) if cfg.schedule.name == "allr" else model  # ALLR's d compares to it
            history = pruning.prune(model, spec, cfg.seed.prune + r, stages.pruning_batches(cfg, data),
                                    history=history, image_size=size)
        info: Dict[str, Any] = {"round": r, **stages.model_counts(model, size)}
        seed_everything(cfg.seed.retrain + r)
        prep = preparation.prepare(cfg, base, before, model, history, epochs, loader,
                                   lambda seed: _dense(cfg, device, seed), size, r)
        info.update(prep.info)
        desc = f"retrain {cfg.schedule.name}" + (f" round {r + 1}/{spec.rounds}" if spec.rounds > 1 else "")

        def log_epoch(row: Dict[str, float], offset: int = r * epochs) -> None:
            tracker.log({f"retrain/{k}": v for k, v in row.items()} | {"retrain/epoch": offset + row["epoch"]})

        # A fresh optimizer for the pruned model is built inside train, as in the paper.
        hook = pruning.step_hook(spec, model, cfg.seed.prune + r, prep.epochs * len(loader))  # AGP's mask updates
        result = train(model, loader, epochs=prep.epochs, schedule=prep.schedule, recipe=cfg.recipe,
                       checkpoint=cell_dir / f"checkpoint-round{r}.pt", desc=desc, settings=TrainSettings.of(cfg),
                       val_loader=data.evals.get("val"), on_epoch=log_epoch, criterion=prep.criterion,
                       step_hook=hook)
        info["history"] = result.history
        if hook is not None:  # the masks grew while retraining: count the model they leave
            info.update(hook.summary() | stages.model_counts(model, size) | pruning.mask_report(model, spec))
        if prep.distiller is not None:
            info["distill"] = prep.distiller.summary(max(1, len(result.history)))
        if result.status != "finished":
            rounds.append(info)
            return Retrained(result.status, model, history, rounds,
                             {"stage": "retrain", "round": r, "epoch": result.diverged_epoch})
        info["metrics"] = stages.evaluate_splits(model, data.evals, cfg.fast, cfg.precision)
        rounds.append(info)
        if r < spec.rounds - 1:
            atomic_save({"history": history, "state_dict": model.state_dict(), "rounds": json.dumps(rounds)},
                        cell_dir / f"round{r}.pt", enabled=main)
        (cell_dir / f"checkpoint-round{r}.pt").unlink(missing_ok=True)
    return Retrained("finished", model, history, rounds)


def _model_summary(cfg: BenchmarkConf, spec: pruning.PruningSpec, base: stages.Stage, pruned: stages.Stage,
                   outcome: Retrained) -> Dict[str, Any]:
    """Counts before and after pruning (after the last round when iterative), and latencies."""
    after = outcome.rounds[-1] if spec.rounds > 1 or spec.gradual else pruned.meta
    return {
        "params_before": base.meta["params"], "params_after": after["params"],
        "flops_before": base.meta["flops"], "flops_after": after["flops"],
        **reductions(base.meta, after),
        "conv_sparsity": after["conv_sparsity"],
        "layer_sparsity": after.get("layer_sparsity", {}),  # pruned stages cached before issue 20 lack it
        **({"nm": after["nm"]} if "nm" in after else {}),
        "spec": pruned.meta["spec"],
        "baseline_source": base.meta.get("source", "trained"),  # trained | loaded (model.weights) | pretrained
        "baseline_weights": base.meta.get("weights"),
        "latency_dense": base.meta["latency"],
        "latency_pruned": (stages.latency(cfg, outcome.model) if spec.rounds > 1 or spec.gradual
                           else pruned.meta["latency"]),
    }


def _complete(record: CellRecord, cfg: BenchmarkConf, spec: pruning.PruningSpec, base: stages.Stage,
              pruned: stages.Stage, outcome: Retrained, seconds: Dict[str, float]) -> CellRecord:
    """Fill the record of a cell whose retraining ended (finished or diverged)."""
    final = outcome.rounds[-1]
    record.status, record.diverged = outcome.status, outcome.diverged
    record.metrics = {"final_train_loss": final["history"][-1]["train_loss"] if final["history"] else None}
    if outcome.status == "finished":
        record.metrics.update(final["metrics"])
    record.metrics["baseline_test_top1"] = base.meta["metrics"]["test_top1"]
    record.metrics["pruned_test_top1"] = pruned.meta["metrics"]["test_top1"]
    record.baseline = baseline_summary(base.meta.get("history", []), cfg.recipe, cfg.convergence,
                                       base.meta.get("source", "trained"))
    record.model = _model_summary(cfg, spec, base, pruned, outcome)
    record.history, record.seconds = final["history"], seconds
    # What the pruning or the baseline decided (ALLR's d, s and rate; KD's extra seconds; Scratch's epochs).
    record.retraining = {k: final[k] for k in preparation.RECORDED if k in final}
    record.rounds = outcome.rounds if spec.rounds > 1 else None
    return record


def run_cell(cfg: BenchmarkConf, output_dir: Path) -> CellRecord:
    """Run (or reuse) the cell that ``cfg`` describes and return its record."""
    if lm.is_lm(cfg):  # a language-model cell: benchmark/lm/cell.py, on the same stages, records and tables
        from benchmark.lm.cell import run_cell as run_lm_cell

        return run_lm_cell(cfg, output_dir)
    began = time.perf_counter()
    epochs = validate(cfg)
    ident = cell_identity(cfg, epochs)
    cell_dir = Path(cfg.paths.cache) / "cells" / ident.cell
    done = reuse_finished(cell_dir, output_dir)
    if done is not None:
        return done

    device = resolve_device(cfg.device)
    if distributed.init_from_env(device):  # several processes: DDP, rank 0 writes and logs
        device = distributed.local_device(device)
    main = distributed.is_main()
    configure_backend(device, cfg.deterministic)
    spec = stages.pruning_spec(cfg, stages.dense_model(cfg, device))  # fails before any data or training
    data = open_data(cfg.dataset, cfg.recipe.batch_size, device)
    loader = data.train(cfg.seed.retrain)
    record = new_record(cfg, ident, epochs, len(loader), device)
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
        outcome = _retrain_rounds(cfg, spec, base, pruned, loader, data, epochs, cell_dir, tracker, device)
        seconds = {"baseline": base.meta["seconds"], "prune": pruned.meta["seconds"],
                   "retrain": time.perf_counter() - started, "cell": time.perf_counter() - began}
        _complete(record, cfg, spec, base, pruned, outcome, seconds)
        if outcome.status == "finished":
            atomic_save({"history": outcome.history, "state_dict": outcome.model.state_dict()}, cell_dir / "model.pt",
                        enabled=main)
            for r in range(spec.rounds - 1):
                (cell_dir / f"round{r}.pt").unlink(missing_ok=True)
        return finish_cell(record, tracker, cell_dir, output_dir, enabled=main, payload=payload_file(ident, "cell"))
