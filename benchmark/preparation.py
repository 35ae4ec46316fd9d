"""What a retraining round needs once its model is pruned and before it trains.

Most schedules are fixed by the config; some are decided by the pruning or the baseline, and
this module settles them, so the schedules stay pure functions and the cell stays small:
- ALLR's rate from the pruning's relative norm drop d and pruned fraction s;
- LRW's recorded rates (``schedule.source=recorded``) from the baseline's record;
- WR's rewound weights; Scratch-E/B's fresh weights and their own epoch counts (not T);
- BatchNorm recalibration (``bn_recalibration``) and the KD criterion (``distill=kd``).
Everything decided here lands in the round's record.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import torch
from torch import nn

from benchmark import pruning
from benchmark.device import seed_everything
from benchmark.retraining import recalibration, rewinding, schedules
from benchmark.retraining.distill import Distiller
from benchmark.retraining.schema import ScheduleConf
from benchmark.schema import BenchmarkConf

# The keys a round's record may gain here, copied into the cell record's ``retraining``.
RECORDED = ("allr", "lrw_source", "rewound_to_epoch", "budget", "bn_recalibration", "distill", "gradual")


def squared_norm(model: nn.Module) -> float:
    """||w||^2 over every module's weight and bias (BatchNorm too), as the BIMP code measures it;
    masked weights count as their masked value."""
    total = 0.0
    for module in model.modules():
        for name in ("weight", "bias"):
            value = getattr(module, name, None)
            if isinstance(value, torch.Tensor):
                total += float(value.detach().double().pow(2).sum())
    return total


def nonzero_parameters(model: nn.Module) -> int:
    return sum(int((getattr(m, n) != 0).sum()) for m in model.modules() for n in ("weight", "bias")
               if isinstance(getattr(m, n, None), torch.Tensor))


def norm_drop(before: nn.Module, after: nn.Module) -> Dict[str, float]:
    """d = sqrt(| ||w||^2 - ||w_pruned||^2 |) / ||w|| and s = the fraction of (nonzero) weights removed."""
    dense, pruned = squared_norm(before), squared_norm(after)
    d = math.sqrt(abs(dense - pruned)) / math.sqrt(dense) if dense > 0 else 0.0
    s = 1.0 - nonzero_parameters(after) / nonzero_parameters(before)
    return {"norm_drop": d, "pruned_fraction": s}


def scratch_epochs(name: str, baseline_epochs: int, flops_dense: float, flops_pruned: float) -> int:
    """Scratch-E: E epochs; Scratch-B: round(E x FLOPs_dense / FLOPs_pruned), the same compute budget."""
    return baseline_epochs if name == "scratch_e" else round(baseline_epochs * flops_dense / flops_pruned)


def reinitialise(model: nn.Module, fresh_dense: nn.Module, history: Dict[str, Any], image_size: int) -> None:
    """Fresh weights for the pruned architecture: a new dense initialisation cut to the surviving
    filters by the same pruning history, the pruned model's masks kept."""
    rewound = pruning.rebuild(fresh_dense, history, image_size).state_dict()
    for key, value in model.state_dict().items():
        if key.endswith("_mask"):
            rewound[key] = value
    model.load_state_dict(rewound)


@dataclass
class Prepared:
    schedule: ScheduleConf  # the plain schedule, with what the pruning or baseline decided filled in
    epochs: int  # epochs to train: T, or Scratch's own count
    criterion: Optional[Callable] = None
    distiller: Optional[Distiller] = None
    info: Dict[str, Any] = field(default_factory=dict)


def prepare(cfg: BenchmarkConf, base: Any, before: nn.Module, model: nn.Module, history: Dict[str, Any], epochs: int,
            loader: Any, dense: Callable[[int], nn.Module], image_size: int, round_index: int) -> Prepared:
    """Settle the round's schedule, weights, epochs and criterion. ``before`` is the model this
    round pruned; ``dense(seed)`` builds a freshly initialised dense model."""
    schedule, recipe = cfg.schedule, cfg.recipe
    out = Prepared(schedule, epochs)
    folder = Path(cfg.paths.cache) / "baselines" / base.meta["identity"]
    if schedule.name == "wr":
        rewinding.rewind(model, dense(cfg.seed.baseline), history, folder, recipe.epochs - epochs, image_size)
        out.info["rewound_to_epoch"] = recipe.epochs - epochs
    if schedule.name in ("scratch_e", "scratch_b"):
        reinitialise(model, dense(cfg.seed.retrain + 1000 + round_index), history, image_size)
        out.epochs = scratch_epochs(schedule.name, recipe.epochs, base.meta["flops"], pruning.count_macs(model, image_size))
        out.info["budget"] = {"epochs_trained": out.epochs, "is_budget_T": False, "T": epochs}
    if cfg.bn_recalibration is not None:
        out.info["bn_recalibration"] = recalibration.recalibrate(model, loader, cfg.bn_recalibration)
    if schedule.name == "allr":
        measured = norm_drop(before, model)
        peak = schedules.allr_peak(measured["norm_drop"], measured["pruned_fraction"], epochs, recipe)
        out.schedule = dataclasses.replace(schedule, peak_lr=peak)
        out.info["allr"] = measured | {"lr": peak}
    if schedule.name == "lrw" and schedule.source == "recorded":
        rates = rewinding.recorded_tail(base.meta.get("lr_trace"), epochs, len(loader), recipe.epochs)
        out.schedule = dataclasses.replace(schedule, rates=rates)
        out.info["lrw_source"] = "recorded"
    if cfg.distill.name == "kd":
        out.distiller = Distiller(base.model, cfg.distill.alpha, cfg.distill.temperature)
        out.criterion = out.distiller
    seed_everything(cfg.seed.retrain + round_index)  # what ran above leaves retraining's seed as it was
    return out
