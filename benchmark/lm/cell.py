"""One language-model cell: dense model -> one-shot pruning -> retraining under a schedule and a
regime -> test perplexity -> record.

The vision engine's contract, kept: every check that can fail without data runs first (one
line each), the three stage identities come from :func:`benchmark.tasks.cell_identity`, the dense
and pruned models are cached stages (:mod:`benchmark.lm.stages`), retraining checkpoints every
epoch, and the cell ends in :func:`benchmark.records.finish_cell` (record.json in the cell cache
and the run folder, the W&B summary). Perplexity is lower-is-better; the tables know
(``benchmark.report.metric.PERPLEXITY``). The final epoch is reported; nothing is selected on test.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any, Dict

from benchmark.validation import validate  # the one phase; it runs benchmark.lm.checks for these cells
from benchmark.artefacts import atomic_save
from benchmark.device import configure_backend, resolve_device
from benchmark.identity import payload_file
from benchmark.tasks import cell_identity
from benchmark.lm import regimes, stages
from benchmark.lm.corpus import floor
from benchmark.lm.train import train_lm
from benchmark.records import CellRecord, finish_cell, new_record, reuse_finished, write_record
from benchmark.schema import BenchmarkConf
from benchmark.seeding import seed_everything
from benchmark.tracking import tracked

log = logging.getLogger(__name__)


def _record(cfg: BenchmarkConf, ident, epochs: int, steps: int, device) -> CellRecord:
    record = new_record(cfg, ident, epochs, steps, device)
    record.name += f"-{cfg.retrain.params}"
    record.comparison += f"-{cfg.retrain.params}"
    return record


def _summary(base: stages.Stage, pruned: stages.Stage, after: Dict[str, Any], trainable: int) -> Dict[str, Any]:
    return {"params_before": base.meta["params"], "params_after": after["params"],
            "flops_before": None, "flops_after": None, "sparsity": 1.0 - after["params"] / base.meta["params"],
            "layer_sparsity": after["sparsity_layers"], "pruned_layer_sparsity": pruned.meta["sparsity_layers"],
            "trainable_params": trainable, "trainable_fraction": trainable / base.meta["params"],
            "baseline_source": base.meta["source"]}


def run_cell(cfg: BenchmarkConf, output_dir: Path) -> CellRecord:
    """Run (or reuse) the language-model cell ``cfg`` describes and return its record."""
    began = time.perf_counter()
    epochs = validate(cfg)
    ident = cell_identity(cfg, epochs)  # resolves pretrained weights: an unknown name fails here, in one line
    cell_dir = Path(cfg.paths.cache) / "cells" / ident.cell
    done = reuse_finished(cell_dir, output_dir)
    if done is not None:
        return done
    device = resolve_device(cfg.device)
    configure_backend(device, cfg.deterministic)
    data = stages.open_lm_data(cfg, device)
    loader = data.train(cfg.seed.retrain)
    record = _record(cfg, ident, epochs, len(loader), device)
    write_record(record, output_dir)
    with tracked(cfg.wandb, record.config, record.name, record.comparison, ident.cell, output_dir) as tracker:
        try:
            base = stages.baseline(cfg, ident, data, device, lambda row: tracker.log({f"baseline/{k}": v for k, v in row.items()}))
        except stages.StageDiverged as error:
            record.status, record.diverged = "diverged", {"stage": error.stage, "epoch": error.epoch}
            return finish_cell(record, tracker, cell_dir, output_dir, payload=payload_file(ident, "cell"))
        pruned = stages.pruned(cfg, ident, base, data, device)
        started = time.perf_counter()
        seed_everything(cfg.seed.retrain)
        model = regimes.prepare(copy.deepcopy(pruned.model), cfg.retrain, pruned.masks)
        trainable = sum(p.numel() for p in regimes.trainable(model))
        result = train_lm(model, loader, epochs=epochs, schedule=cfg.schedule, recipe=cfg.recipe,
                          checkpoint=cell_dir / "checkpoint-round0.pt", desc=f"retrain {cfg.schedule.name} {cfg.retrain.params}",
                          masks=pruned.masks, val_loader=data.evals.get("val"),
                          on_epoch=lambda row: tracker.log({f"retrain/{k}": v for k, v in row.items()} | {"retrain/epoch": row["epoch"]}))
        record.status, record.history = result.status, result.history
        record.metrics = {"final_train_loss": result.history[-1]["train_loss"] if result.history else None,
                          "baseline_test_ppl": base.meta["metrics"]["test_ppl"],
                          "pruned_test_ppl": pruned.meta["metrics"]["test_ppl"], "ppl_floor": floor(cfg.dataset)}
        if result.status == "finished":
            model = regimes.finish(model, cfg.retrain, pruned.masks)
            record.metrics.update(stages.evaluate_splits(model, data.evals))
            after = stages.counts(model, pruned.masks)
            atomic_save({"state_dict": model.state_dict()}, cell_dir / "model.pt")
            (cell_dir / "checkpoint-round0.pt").unlink(missing_ok=True)
        else:
            record.diverged = {"stage": "retrain", "round": 0, "epoch": result.diverged_epoch}
            after = pruned.meta
        record.model = _summary(base, pruned, after, trainable)
        record.retraining = {"params": cfg.retrain.params, "trainable_params": trainable}
        record.seconds = {"baseline": base.meta["seconds"], "prune": pruned.meta["seconds"],
                          "retrain": time.perf_counter() - started, "cell": time.perf_counter() - began}
        return finish_cell(record, tracker, cell_dir, output_dir, payload=payload_file(ident, "cell"))
