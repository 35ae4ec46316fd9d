"""The cached stages a cell stands on: the baseline and the pruned model.

Both live under the cache root by identity (``baselines/<id>/``, ``pruned/<id>/``), so
every cell of a comparison reuses one baseline, and every schedule and budget of one
pruned model starts from the identical pruned weights. Each stage takes an exclusive
file lock while it computes: concurrent cells wait instead of training the same
baseline twice, and the kernel releases the lock of a process that dies.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import torch
from torch import nn

from benchmark import distributed, pruning
from benchmark.retraining import rewinding, schedules
from benchmark.artefacts import atomic_save, load_checkpoint, locked, read_json, write_json
from benchmark.data import Data, Loader, image_size
from benchmark.identity import Identity, payload_file
from benchmark.models import build_model
from benchmark.models.custom import model_fingerprint
from benchmark.models.weights import load_weights
from benchmark.pruning.counting import count_macs, count_params
from benchmark.pruning.latency import forward_latency
from benchmark.seeding import seed_everything
from benchmark.schema import BenchmarkConf, OriginalScheduleConf
from benchmark.train import TrainResult, TrainSettings, evaluate, train

log = logging.getLogger(__name__)


class StageDiverged(RuntimeError):
    """A cached stage (the baseline) could not be trained: its loss went non-finite."""

    def __init__(self, stage: str, epoch: Optional[int]) -> None:
        super().__init__(f"{stage} diverged at epoch {epoch}")
        self.stage, self.epoch = stage, epoch


def dense_model(cfg: BenchmarkConf, device: torch.device) -> nn.Module:
    """The unpruned network, initialised from the baseline seed."""
    seed_everything(cfg.seed.baseline)
    return build_model(cfg.model, cfg.dataset.num_classes).to(device)


def model_counts(model: nn.Module, size: int = 32) -> Dict[str, Any]:
    """Remaining parameters, multiply-accumulates (one ``size``-pixel image) and zeroed conv weights."""
    return {"params": count_params(model), "flops": count_macs(model, size), "conv_sparsity": pruning.conv_sparsity(model)}


def pruning_spec(cfg: BenchmarkConf, model: nn.Module) -> pruning.PruningSpec:
    """The pruner config resolved for this model, a target size turned into a ratio."""
    spec = pruning.resolve(cfg.pruner, cfg.model.name)
    pruning.validate(spec, model)
    if cfg.model.weights is not None:  # the released baseline must fit before anything trains
        load_weights(copy.deepcopy(model), cfg.model.weights)
    pruning.check_files(spec, model, cfg.dataset.num_classes, image_size(cfg.dataset))
    if cfg.pruner.target_reduction is not None:
        spec = pruning.match_target(model, spec, cfg.pruner.target_metric, cfg.pruner.target_reduction,
                                    image_size=image_size(cfg.dataset))
    return spec


@dataclass
class Stage:
    model: nn.Module
    meta: Dict[str, Any]
    pruning_history: Dict[str, Any] = field(default_factory=pruning.empty_history)


def evaluate_splits(model: nn.Module, evals: Dict[str, Loader], fast: bool = False,
                    precision: str = "auto") -> Dict[str, float]:
    metrics = {}
    for split, loader in evals.items():
        result = evaluate(model, loader, fast, precision)
        metrics[f"{split}_top1"], metrics[f"{split}_top5"] = result["top1"], result["top5"]
    return metrics


def latency(cfg: BenchmarkConf, model: nn.Module) -> Optional[Dict[str, Any]]:
    return forward_latency(model, cfg.latency.batch, cfg.latency.warmup, cfg.latency.repeats, image_size(cfg.dataset))


def _train_baseline(cfg: BenchmarkConf, model: nn.Module, folder: Path, data: Data,
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
                 settings=TrainSettings.of(cfg), val_loader=data.evals.get("val"), on_epoch=on_epoch)


def baseline(cfg: BenchmarkConf, ident: Identity, data: Data, device: torch.device,
             log_epoch: Callable[[Dict[str, float]], None]) -> Stage:
    """The trained dense model: loaded from the cache, trained with the original recipe, or
    (``model.pretrained``) torchvision's pretrained weights, evaluated."""
    evals = data.evals
    folder = Path(cfg.paths.cache) / "baselines" / ident.baseline
    with distributed.main_only(locked(folder)):
        saved = load_checkpoint(folder / "model.pt")
        model = dense_model(cfg, device)
        if saved is not None:
            model.load_state_dict(saved["state_dict"])
            return Stage(model, saved["meta"])
        began, history, trace, source = time.perf_counter(), [], [], "trained"
        diverged = read_json(folder / "diverged.json")
        if diverged is not None:  # the same settings diverge again: no need to retrain to find out
            raise StageDiverged("baseline", diverged["epoch"])
        if cfg.model.weights is not None:
            load_weights(model, cfg.model.weights)
            source = "loaded"
        elif cfg.model.pretrained:
            source = "pretrained"
        else:
            result = _train_baseline(cfg, model, folder, data, log_epoch)
            if result.status != "finished":
                write_json({"stage": "baseline", "epoch": result.diverged_epoch}, folder / "diverged.json",
                           enabled=distributed.is_main())
                (folder / "checkpoint.pt").unlink(missing_ok=True)
                raise StageDiverged("baseline", result.diverged_epoch)
            history, trace = result.history, result.lr_trace
        meta = {"identity": ident.baseline, "source": source, "weights": model_fingerprint(cfg.model).get("weights"),
                "metrics": evaluate_splits(model, evals, cfg.fast, cfg.precision), "history": history,
                "lr_trace": trace,  # the rate of every iteration, as [lr, count] runs: exact LRW replays it
                "seconds": time.perf_counter() - began, "latency": latency(cfg, model),
                **model_counts(model, image_size(cfg.dataset))}
        main = distributed.is_main()
        atomic_save({"state_dict": model.state_dict(), "meta": meta}, folder / "model.pt", enabled=main)
        write_json({k: v for k, v in meta.items() if k != "lr_trace"}, folder / "meta.json", enabled=main)
        write_json(payload_file(ident, "baseline"), folder / "identity.json", enabled=main)
        (folder / "checkpoint.pt").unlink(missing_ok=True)
        return Stage(model, meta)


def pruning_batches(cfg: BenchmarkConf, data: Data) -> Callable[[], Iterator[Tuple[torch.Tensor, torch.Tensor]]]:
    """The first training batches of the pruning seed: what data-driven criteria (Taylor) score over."""
    return lambda: (batch for _, batch in zip(range(cfg.pruner.taylor_batches), data.train(cfg.seed.prune).epoch(0)))


def pruned(cfg: BenchmarkConf, ident: Identity, spec: pruning.PruningSpec, base: Stage, data: Data,
           device: torch.device) -> Stage:
    """The model after the first pruning round of ``spec`` (from :func:`pruning_spec`), stored
    as pruning history plus weights."""
    folder = Path(cfg.paths.cache) / "pruned" / ident.pruned
    with distributed.main_only(locked(folder)):
        saved = load_checkpoint(folder / "model.pt")
        if saved is not None:
            model = pruning.rebuild(dense_model(cfg, device), saved["history"], image_size(cfg.dataset))
            model.load_state_dict(saved["state_dict"])
            return Stage(model, saved["meta"], saved["history"])
        began = time.perf_counter()
        model = dense_model(cfg, device)
        model.load_state_dict(base.model.state_dict())
        if spec.name == "checkpoint":  # a network pruned elsewhere: loaded, not pruned
            model, history = pruning.checkpoint.load_pruned(model, spec, cfg.dataset.num_classes, image_size(cfg.dataset))
        else:
            history = pruning.prune(model, spec, cfg.seed.prune, pruning_batches(cfg, data),
                                    image_size=image_size(cfg.dataset))
        meta = {"identity": ident.pruned, "spec": asdict(spec), "metrics": evaluate_splits(model, data.evals, cfg.fast, cfg.precision),
                "seconds": time.perf_counter() - began, "latency": latency(cfg, model),
                **model_counts(model, image_size(cfg.dataset)), **pruning.mask_report(model, spec)}
        main = distributed.is_main()
        atomic_save({"history": history, "state_dict": model.state_dict(), "meta": meta}, folder / "model.pt", enabled=main)
        write_json(meta, folder / "meta.json", enabled=main)
        write_json(payload_file(ident, "pruned"), folder / "identity.json", enabled=main)
        return Stage(model, meta, history)
