"""The cached stages of a language-model cell: the dense model and the pruned model.

As on the vision side (:mod:`benchmark.stages`): each lives under the cache root by identity
(``baselines/<id>/``, ``pruned/<id>/``), is computed under the stage's file lock and written
atomically, so every schedule, budget and regime of one comparison starts from the identical
pruned weights. A pretrained dense model is not copied into the cache: its record (metrics,
counts) is, and the weights are read again from their (content-hashed) source.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import torch
from torch import nn

from benchmark import distributed
from benchmark.artefacts import atomic_save, load_checkpoint, locked, write_json
from benchmark.identity import Identity, payload_file
from benchmark.lm.corpus import BlockLoader, TokenSplits, floor, load_tokens, vocab_size
from benchmark.lm.models import build_lm
from benchmark.lm.prune import layer_sparsity, prunable, prune_lm
from benchmark.lm.train import perplexity, train_lm
from benchmark.schema import BenchmarkConf, OriginalScheduleConf
from benchmark.seeding import seed_everything

EVAL_BATCH = 32


class StageDiverged(RuntimeError):
    def __init__(self, stage: str, epoch: Any) -> None:
        super().__init__(f"{stage} diverged at epoch {epoch}")
        self.stage, self.epoch = stage, epoch


@dataclass
class LMData:
    """The token blocks and loaders of a cell."""

    splits: TokenSplits
    block_size: int
    batch_size: int
    device: torch.device
    evals: Dict[str, BlockLoader] = field(default_factory=dict)

    def train(self, seed: int) -> BlockLoader:
        return BlockLoader(self.splits.blocks("train", self.block_size), self.batch_size, self.device, seed)


def open_lm_data(cfg: BenchmarkConf, device: torch.device) -> LMData:
    splits = load_tokens(cfg.dataset, cfg.model.name if cfg.model.pretrained else None)
    data = LMData(splits, cfg.dataset.block_size, cfg.recipe.batch_size, device)
    for split, name in (("test", "test"), ("validation", "val")):
        if len(splits.streams[split]) >= cfg.dataset.block_size:
            data.evals[name] = BlockLoader(splits.blocks(split, cfg.dataset.block_size), EVAL_BATCH, device, None)
    return data


def dense_lm(cfg: BenchmarkConf, device: torch.device) -> nn.Module:
    """The unpruned network, initialised from the baseline seed (or pretrained)."""
    seed_everything(cfg.seed.baseline)
    return build_lm(cfg.model, vocab_size(cfg.dataset), device)


def evaluate_splits(model: nn.Module, evals: Dict[str, BlockLoader]) -> Dict[str, float]:
    return {f"{split}_ppl": perplexity(model, loader)["ppl"] for split, loader in evals.items()}


def counts(model: nn.Module, masks: Dict[str, torch.Tensor]) -> Dict[str, Any]:
    """Parameters left (pruned weights excluded) and the sparsity of the pruned layers."""
    total = sum(p.numel() for p in model.parameters())
    removed = sum(int((~keep).sum()) for keep in masks.values())
    linear = sum(m.weight.numel() for m in prunable(model).values())
    return {"params": total - removed, "prunable_params": linear,
            "sparsity_layers": layer_sparsity(model, masks) if masks else 0.0}


@dataclass
class Stage:
    model: nn.Module
    meta: Dict[str, Any]
    masks: Dict[str, torch.Tensor] = field(default_factory=dict)


def _store(folder: Path, saved: Dict[str, Any], ident: Identity, stage: str, main: bool) -> None:
    """A finished stage: its weights (model.pt, written last-but-atomically), readable meta and identity."""
    atomic_save(saved, folder / "model.pt", enabled=main)
    write_json(saved["meta"], folder / "meta.json", enabled=main)
    write_json(payload_file(ident, stage), folder / "identity.json", enabled=main)


def baseline(cfg: BenchmarkConf, ident: Identity, data: LMData, device: torch.device,
             log_epoch: Callable[[Dict[str, float]], None]) -> Stage:
    """The dense model: cached, pretrained, or trained by the recipe."""
    folder = Path(cfg.paths.cache) / "baselines" / ident.baseline
    main = distributed.is_main()
    with locked(folder):
        saved = load_checkpoint(folder / "model.pt")
        model = dense_lm(cfg, device)
        if saved is not None:
            if "state_dict" in saved:
                model.load_state_dict(saved["state_dict"])
            return Stage(model, saved["meta"])
        began, history, source = time.perf_counter(), [], "pretrained" if cfg.model.pretrained else "trained"
        if not cfg.model.pretrained:
            result = train_lm(model, data.train(cfg.seed.baseline), epochs=cfg.recipe.epochs, schedule=OriginalScheduleConf(),
                              recipe=cfg.recipe, checkpoint=folder / "checkpoint.pt", desc="baseline",
                              val_loader=data.evals.get("val"), on_epoch=log_epoch, main=main)
            if result.status != "finished":
                (folder / "checkpoint.pt").unlink(missing_ok=True)
                raise StageDiverged("baseline", result.diverged_epoch)
            history = result.history
        meta = {"identity": ident.baseline, "source": source, "metrics": evaluate_splits(model, data.evals),
                "ppl_floor": floor(cfg.dataset), "history": history, "seconds": time.perf_counter() - began,
                **counts(model, {})}
        _store(folder, {"meta": meta} | ({} if cfg.model.pretrained else {"state_dict": model.state_dict()}), ident,
               "baseline", main)
        (folder / "checkpoint.pt").unlink(missing_ok=True)
        return Stage(model, meta)


def calibration(cfg: BenchmarkConf, data: LMData) -> Callable[[], Iterator[torch.Tensor]]:
    """The first ``pruner.calibration_samples`` training blocks in the pruning seed's order."""
    def batches() -> Iterator[torch.Tensor]:
        left = cfg.pruner.calibration_samples
        for batch in islice(data.train(cfg.seed.prune).epoch(0), len(data.train(cfg.seed.prune))):
            if left <= 0:
                return
            yield batch[:left]
            left -= len(batch)
    return batches


def pruned(cfg: BenchmarkConf, ident: Identity, base: Stage, data: LMData, device: torch.device) -> Stage:
    """The one-shot pruned model and its masks, cached as weights plus masks."""
    folder = Path(cfg.paths.cache) / "pruned" / ident.pruned
    main = distributed.is_main()
    with locked(folder):
        saved = load_checkpoint(folder / "model.pt")
        model = dense_lm(cfg, device)
        if saved is not None:
            model.load_state_dict(saved["state_dict"])
            return Stage(model, saved["meta"], saved["masks"])
        began = time.perf_counter()
        model.load_state_dict(base.model.state_dict())
        seed_everything(cfg.seed.prune)
        masks = {} if cfg.pruner.name == "none" else prune_lm(model, cfg.pruner, calibration(cfg, data))
        meta = {"identity": ident.pruned, "metrics": evaluate_splits(model, data.evals),
                "seconds": time.perf_counter() - began, **counts(model, masks)}
        _store(folder, {"state_dict": model.state_dict(), "masks": masks, "meta": meta}, ident, "pruned", main)
        return Stage(model, meta, masks)
