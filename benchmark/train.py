"""The training loop shared by baselines and retraining, with per-epoch checkpoints.

One loop serves every stage of every task: the schedule (original, FT, LRW, SLR, CLR, ...)
sets the learning rate and momentum of every iteration through ``schedules.lr_momentum``, and
the task's :class:`Objective` says what one step computes and how a split is scored (image
classification's cross-entropy and top-1 in :mod:`benchmark.tasks.image`, the language models'
next-token loss and perplexity in :mod:`benchmark.tasks.text`). The loop checkpoints model,
optimizer, epoch and history atomically after every epoch, so a killed run resumes from its
last completed epoch; since each epoch's data order and augmentation derive from (seed, epoch),
the resumed run repeats the uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

import torch
from torch import nn

from benchmark import distributed
from benchmark.artefacts import atomic_save, load_checkpoint
from benchmark.data import Loader
from benchmark.fastpath import TrainingForward, fast_path, should_compile
from benchmark.progress import bar, log_through_bars
from benchmark.retraining import optimizers, schedules
from benchmark.retraining.rewinding import LrTrace
from benchmark.retraining.schema import RecipeConf, ScheduleConf
from benchmark.schema import BenchmarkConf
from benchmark.tasks import task_of
from benchmark.tasks.image import CLASSIFICATION

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """How a stage trains, apart from what it trains: progress display and the speed path."""

    progress: str = "auto"  # auto | bar | log | off (benchmark.progress)
    fast: bool = False  # the device's speed settings (benchmark.fastpath)
    precision: str = "auto"  # auto | fp32 | bf16 (benchmark.fastpath.precision)
    compile_min_steps: int = -1  # compile the training forward when this many steps remain (-1: never)

    @classmethod
    def of(cls, cfg: BenchmarkConf) -> "TrainSettings":
        """The cell's settings, at the precision its task runs (``precision=auto`` resolved) and
        compiled only where the task's model compiles."""
        task = task_of(cfg)
        return cls(progress=cfg.progress, fast=cfg.fast, precision=task.precision(cfg),
                   compile_min_steps=cfg.compile_min_steps if task.compiles else -1)


class StepHook(Protocol):
    """Called with the global step before each step's forward (AGP's mask updates,
    ``benchmark.pruning.gradual``) and after each optimizer step (a language model's pruning
    masks, ``benchmark.tasks.text``); its state rides in the per-epoch checkpoint."""

    def __call__(self, step: int) -> None: ...
    def after_step(self) -> None: ...
    def row(self) -> Dict[str, float]: ...  # what each epoch's history row gains
    def state_dict(self) -> Dict[str, Any]: ...
    def load_state_dict(self, state: Dict[str, Any]) -> None: ...


@dataclass
class TrainResult:
    status: str  # finished | diverged
    history: List[Dict[str, float]] = field(default_factory=list)
    diverged_epoch: Optional[int] = None
    lr_trace: List[List[float]] = field(default_factory=list)  # the rates every iteration ran at, as [lr, count] runs


class Objective(Protocol):
    """What a task's training step computes, how the loop scores a validation split, and which
    state of the model a checkpoint keeps."""

    def shard(self, batch: Any) -> Any: ...  # this process's share of a batch (benchmark.distributed)
    def step(self, forward: Callable, batch: Any, channels_last: bool, criterion: Optional[Callable]
             ) -> Tuple[torch.Tensor, int, Optional[torch.Tensor]]: ...  # loss, examples, correct (or None)
    def validate(self, model: nn.Module, loader: Any, fast: bool, precision: str) -> Dict[str, float]: ...
    def state(self, model: nn.Module) -> Dict[str, Any]: ...
    def load(self, model: nn.Module, state: Dict[str, Any]) -> None: ...


def _describe(row: Dict[str, float]) -> str:
    """The epoch's scores for its log line: train and validation top-1, or validation perplexity."""
    parts = [f" train {row['train_top1']:.2f}%"] if "train_top1" in row else []
    parts += [f" val {row['val_top1']:.2f}%"] if "val_top1" in row else []
    parts += [f" val ppl {row['val_ppl']:.3f}"] if "val_ppl" in row else []
    return "".join(parts)


def train(
    model: nn.Module,
    loader: Loader,
    *,
    epochs: int,
    schedule: ScheduleConf,
    recipe: RecipeConf,
    checkpoint: Path,
    desc: str,
    settings: TrainSettings = TrainSettings(),
    val_loader: Optional[Loader] = None,
    on_epoch: Optional[Callable[[Dict[str, float]], None]] = None,
    criterion: Optional[Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = None,
    step_hook: Optional[StepHook] = None,
    objective: Objective = CLASSIFICATION,  # image classification's (benchmark.tasks.image)
) -> TrainResult:
    """Train for ``epochs`` under ``schedule``; resume from ``checkpoint`` if it holds an epoch.
    ``settings.fast`` turns on the device's speed settings, and ``torch.compile`` of the training
    forward when at least ``settings.compile_min_steps`` steps remain (see :mod:`benchmark.fastpath`).
    ``criterion(logits, labels, images)`` replaces cross-entropy (knowledge distillation,
    :mod:`benchmark.retraining.distill`). ``step_hook(step)`` runs before every step's forward and
    ``step_hook.after_step()`` after every optimizer step. Only parameters that require gradients
    train (a language model's LoRA adapters or biases and norms; every parameter of an image model)."""
    progress, fast, compile_min_steps = settings.progress, settings.fast, settings.compile_min_steps
    model, autocast, channels_last = fast_path(model, loader.device, fast, settings.precision)
    steps = len(loader)
    first_lr, first_momentum = schedules.lr_momentum(0, steps, epochs, schedule, recipe)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = optimizers.build(trained, recipe, first_lr, first_momentum)  # the recipe's optimizer
    start, history, trace = 0, [], LrTrace()
    state = load_checkpoint(checkpoint)
    if state is not None and "model" not in state:  # the language models' own loop wrote it (before issue 28)
        log.warning("%s: %s is a checkpoint of the earlier language-model loop, which this loop cannot resume; "
                    "training from epoch 0", desc, checkpoint)
        state = None
    if state is not None:
        objective.load(model, state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, history, trace = state["epoch"], state["history"], LrTrace(state.get("lr_trace", []))
        torch.set_rng_state(state["rng"])
        if step_hook is not None:
            step_hook.load_state_dict(state["step_hook"])
        log.info("%s: resuming after epoch %d of %d", desc, start, epochs)
    # DDP when several processes train together; compiled when the remaining steps repay it.
    forward = TrainingForward(distributed.wrap(model), should_compile(fast, (epochs - start) * steps, compile_min_steps))
    if forward.compiling:
        log.info("%s: compiling the training step (torch.compile; the first step waits for it)", desc)

    with log_through_bars(progress):  # log lines print above the bars, not through them
        epoch_bar = bar(range(start, epochs), progress, desc=desc, total=epochs, initial=start, unit="epoch")
        for epoch in epoch_bar:
            began = time.perf_counter()
            model.train()
            loss_sum = torch.zeros((), device=loader.device)
            correct = torch.zeros((), device=loader.device)
            seen, scored = 0, False
            for i, batch in enumerate(bar(loader.epoch(epoch), progress, total=steps, leave=False, unit="it")):
                batch = objective.shard(batch)
                lr, momentum = schedules.lr_momentum(epoch * steps + i, steps, epochs, schedule, recipe)
                optimizers.set_rates(optimizer, lr, momentum)
                trace.add(optimizer.param_groups[0]["lr"])  # what the optimizer ran at, for exact rewinding
                if step_hook is not None:
                    step_hook(epoch * steps + i)
                with autocast():
                    loss, count, hits = objective.step(forward, batch, channels_last, criterion)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if step_hook is not None:
                    step_hook.after_step()
                # Accumulate on the device: one host sync per epoch, not per iteration.
                loss_sum += loss.detach() * count
                if hits is not None:
                    correct += hits
                    scored = True
                seen += count
            totals = torch.stack([loss_sum, correct.float(), torch.tensor(float(seen), device=loss_sum.device)])
            loss_sum, correct, seen = distributed.all_sum(totals).tolist()  # over ranks when distributed
            row = {
                "epoch": epoch,
                "lr": schedules.lr_momentum(epoch * steps, steps, epochs, schedule, recipe)[0],
                "train_loss": loss_sum / seen,
            }
            if scored:
                row["train_top1"] = 100.0 * correct / seen
            if not math.isfinite(row["train_loss"]):
                log.error("%s: loss is %s at epoch %d; stopping as diverged", desc, row["train_loss"], epoch)
                return TrainResult("diverged", history, diverged_epoch=epoch)
            if val_loader is not None:
                row |= objective.validate(model, val_loader, fast, settings.precision)
            row |= step_hook.row() if step_hook is not None else {}
            row["seconds"] = time.perf_counter() - began
            history.append(row)
            atomic_save({"model": objective.state(model), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                         "step": (epoch + 1) * steps, "rng": torch.get_rng_state(), "history": history,
                         "lr_trace": trace.runs, "step_hook": None if step_hook is None else step_hook.state_dict()},
                        checkpoint, enabled=distributed.is_main())
            log.info("%s epoch %d/%d lr %.5f loss %.4f%s (%.1fs)", desc, epoch + 1, epochs, row["lr"], row["train_loss"],
                     _describe(row), row["seconds"])
            if on_epoch is not None:
                on_epoch(row)
    return TrainResult("finished", history, lr_trace=trace.runs)
