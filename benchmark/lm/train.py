"""The language-model training loop (dense training and retraining) and perplexity.

The same contract as :mod:`benchmark.train`: the schedule sets the learning rate and momentum
(AdamW's beta1) of every iteration through ``schedules.lr_momentum``, the optimizer is the
recipe's, built fresh for each stage, and model (trainable state), optimizer, epoch and RNG state
are checkpointed atomically after every epoch, so a killed run resumes from its last epoch and
ends as an uninterrupted one (each epoch's batch order derives from (seed, epoch)). After each
step the pruned weights are zeroed again (``masks``), whatever the regime.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.artefacts import atomic_save, load_checkpoint
from benchmark.lm.corpus import BlockLoader
from benchmark.lm.prune import apply_masks
from benchmark.retraining import optimizers, schedules
from benchmark.schema import RecipeConf, ScheduleConf

log = logging.getLogger(__name__)


@dataclass
class LMTrainResult:
    status: str  # finished | diverged
    history: List[Dict[str, float]] = field(default_factory=list)
    diverged_epoch: Optional[int] = None


def token_loss(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of a batch of blocks (token t+1 from tokens <= t)."""
    logits = model(input_ids=batch).logits[:, :-1].float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


@torch.no_grad()
def perplexity(model: nn.Module, loader: BlockLoader) -> Dict[str, float]:
    """exp of the mean next-token negative log-likelihood over every predicted token of the split."""
    was = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in loader.epoch(0):
        n = batch[:, 1:].numel()
        total += token_loss(model, batch).item() * n
        count += n
    model.train(was)
    loss = total / count
    return {"loss": loss, "ppl": math.exp(loss) if loss < 700 else math.inf}


def _trainable_state(model: nn.Module) -> Dict[str, torch.Tensor]:
    """What a checkpoint must hold: every parameter that trains, plus all buffers is not needed
    (frozen weights come back from the cached stage the cell starts from)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def train_lm(model: nn.Module, loader: BlockLoader, *, epochs: int, schedule: ScheduleConf, recipe: RecipeConf,
             checkpoint: Path, desc: str, masks: Optional[Dict[str, torch.Tensor]] = None,
             val_loader: Optional[BlockLoader] = None, on_epoch: Optional[Callable[[Dict[str, float]], None]] = None,
             main: bool = True) -> LMTrainResult:
    """Train the parameters of ``model`` that require gradients for ``epochs`` under ``schedule``."""
    steps = len(loader)
    params = [p for p in model.parameters() if p.requires_grad]
    lr0, m0 = schedules.lr_momentum(0, steps, epochs, schedule, recipe)
    optimizer = optimizers.build(params, recipe, lr0, m0)
    start, history = 0, []
    state = load_checkpoint(checkpoint)
    if state is not None:
        model.load_state_dict(state["trainable"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        start, history = state["epoch"], state["history"]
        torch.set_rng_state(state["rng"])
        log.info("%s: resuming after epoch %d of %d", desc, start, epochs)
    model.train()
    for epoch in range(start, epochs):
        began, loss_sum, seen = time.perf_counter(), 0.0, 0
        for i, batch in enumerate(loader.epoch(epoch)):
            lr, momentum = schedules.lr_momentum(epoch * steps + i, steps, epochs, schedule, recipe)
            optimizers.set_rates(optimizer, lr, momentum)
            loss = token_loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if masks:
                apply_masks(model, masks)
            loss_sum += loss.item() * len(batch)
            seen += len(batch)
        row = {"epoch": epoch, "lr": schedules.lr_momentum(epoch * steps, steps, epochs, schedule, recipe)[0],
               "train_loss": loss_sum / seen}
        if not math.isfinite(row["train_loss"]):
            log.error("%s: loss is %s at epoch %d; stopping as diverged", desc, row["train_loss"], epoch)
            return LMTrainResult("diverged", history, epoch)
        if val_loader is not None:
            row["val_ppl"] = perplexity(model, val_loader)["ppl"]
        row["seconds"] = time.perf_counter() - began
        history.append(row)
        atomic_save({"trainable": _trainable_state(model), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                     "rng": torch.get_rng_state(), "history": history}, checkpoint, enabled=main)
        log.info("%s epoch %d/%d lr %.2e loss %.4f (%.1fs)", desc, epoch + 1, epochs, row["lr"], row["train_loss"],
                 row["seconds"])
        if on_epoch is not None:
            on_epoch(row)
    return LMTrainResult("finished", history)
