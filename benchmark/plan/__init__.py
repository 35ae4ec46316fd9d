"""Plan mode: what a cell would compute, with nothing trained and no data loaded.

Structured pruning widths depend only on the architecture and the pruner config, so
pruning a freshly initialised model gives the exact parameter and FLOP counts of the
real pruned model. The learning rates come from the same schedule code as training.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List

import torch

from benchmark import pruning
from benchmark.tasks import image
from benchmark.retraining import schedules
from benchmark.artefacts import read_json
from benchmark.cell import validate
from benchmark.retraining.derivation import describe
from benchmark.data import image_size, train_length
from benchmark.identity import cell_name
from benchmark.tasks import cell_identity
from benchmark.lm import is_lm
from benchmark.records import read_record, reductions
from benchmark.schema import BenchmarkConf
from benchmark.plan.cost import cell_throughput, describe_hours, stage_images, sweep_hours


def plan_cell(cfg: BenchmarkConf) -> Dict[str, Any]:
    """The cell's identity, counts, schedule and what the cache already holds."""
    epochs = validate(cfg)
    ident = cell_identity(cfg, epochs, plan=True)  # weights not on this machine: their name stands in
    if is_lm(cfg):  # a language model: parameter counts from its config and estimated GPU-hours
        from benchmark.lm.plan import plan_lm_cell

        return plan_lm_cell(cfg, epochs, ident)
    model = image.dense_model(cfg, torch.device("cpu"))
    size = image_size(cfg.dataset)
    before = image.model_counts(model, size)
    spec = image.pruning_spec(cfg, model)
    cache = Path(cfg.paths.cache)
    after = _pruned_counts(cfg, model, spec, size, cache / "pruned" / ident.pruned / "meta.json")
    steps = math.ceil(train_length(cfg.dataset) / cfg.recipe.batch_size)
    record = read_record(cache / "cells" / ident.cell / "record.json")
    return {
        "name": cell_name(cfg, epochs),
        "identity": ident.as_dict(),
        "params_before": before["params"],
        "params_after": after["params"],
        "flops_before": before["flops"],
        "flops_after": after["flops"],
        **reductions(before, after),
        "counts_exact": after["exact"],
        "pruning_ratio": spec.ratio if spec.stage_ratios is None else spec.stage_ratios,
        "rounds": spec.rounds,
        "budget_epochs": epochs,
        "baseline_epochs": cfg.recipe.epochs,
        "steps_per_epoch": steps,
        "derivation": describe(cfg.schedule, cfg.recipe, epochs),
        # ALLR's rate is decided after pruning: no per-epoch rates to show before it.
        "lr_at_epoch_start": (None if cfg.schedule.name == "allr"
                              else schedules.lr_at_epoch_start(steps, epochs, cfg.schedule, cfg.recipe)),
        "throughput": cell_throughput(cfg),  # images per epoch and img/s: plan mode's hours
        "cached": {
            "baseline": (cache / "baselines" / ident.baseline / "model.pt").exists(),
            "pruned": (cache / "pruned" / ident.pruned / "model.pt").exists(),
            "cell": record is not None and record.done,
        },
    }


def _pruned_counts(cfg: BenchmarkConf, model: torch.nn.Module, spec: pruning.PruningSpec, size: int,
                   cached_meta: Path) -> Dict[str, Any]:
    """Counts after pruning, without data: structured widths do not depend on the scores (L1
    stands in for every criterion), a checkpoint is read. A custom pruner's result is known only
    once it has run (then from the cache); a global ranking's widths depend on the trained weights."""
    meta = read_json(cached_meta)
    if meta is not None and spec.rounds == 1 and not spec.gradual:  # AGP's cached stage holds s_i, not s_f
        return {"params": meta["params"], "flops": meta["flops"], "exact": True}
    if spec.name == "custom":
        return {"params": None, "flops": None, "exact": False}
    if spec.name == "checkpoint":
        model, _ = pruning.checkpoint.load_pruned(model, spec, cfg.dataset.num_classes, size)
    else:
        history = None
        for r in range(spec.rounds):
            # AGP counts as the one-shot pruner its final masks equal in size.
            history = pruning.prune(model, pruning.gradual.final_spec(spec), cfg.seed.prune + r,
                                    criterion="l1" if spec.structured or spec.graph else None, history=history,
                                    image_size=size)
    counts = image.model_counts(model, size)
    return {"params": counts["params"], "flops": counts["flops"], "exact": not spec.global_pruning}


def _count_line(label: str, before: int, after: Any, pct: Any, unit: str = "") -> str:
    if after is None:
        return f"{label}{before:,}{unit} -> known once the pruner has run"
    return f"{label}{before:,} -> {after:,}{unit} (-{pct:.1f}%)"


def format_plan(plan: Dict[str, Any], fmt: str) -> str:
    """``json``: one JSON object on one line; ``text``: a short human-readable summary."""
    if fmt == "json":
        return json.dumps(plan)
    if "gpu_hours" in plan:
        from benchmark.lm.plan import format_lm_plan

        return format_lm_plan(plan)
    lrs = plan["lr_at_epoch_start"]
    lines = [
        f"cell      {plan['name']}",
        "identity  " + "  ".join(f"{k}={v}" for k, v in plan["identity"].items()),
        _count_line("params    ", plan["params_before"], plan["params_after"], plan["params_reduction_pct"]),
        _count_line("FLOPs     ", plan["flops_before"], plan["flops_after"], plan["flops_reduction_pct"], " MACs"),
        f"budget    T={plan['budget_epochs']} epochs x {plan['steps_per_epoch']} iterations"
        + (f" x {plan['rounds']} rounds" if plan["rounds"] > 1 else "") + " "
        f"(baseline E={plan['baseline_epochs']})",
        "cached    " + "  ".join(f"{k}={'yes' if v else 'no'}" for k, v in plan["cached"].items()),
        "cost      " + describe_hours(sweep_hours(cell_work(plan))),
        *plan["derivation"],
    ]
    if lrs is None:
        return "\n".join(lines + ["lr per retraining epoch: decided after pruning"])
    lines += ["lr per retraining epoch (first iteration):"] + [f"  epoch {e:4d}  {lr:.6g}" for e, lr in enumerate(lrs)]
    return "\n".join(lines)


def cell_work(plan: Dict[str, Any], baseline: bool = True, pruned: bool = True, cell: bool = True) -> List[tuple]:
    """(images, rates) of the stages of one cell's plan that are asked for and not cached: the
    baseline (E epochs, then the test set), the pruned model (one test pass) and the retraining
    (T epochs per round, a test pass after each round)."""
    rate, cached, work = plan["throughput"], plan["cached"], []
    if baseline and not cached["baseline"]:
        work.append((stage_images(rate, plan["baseline_epochs"]), rate))
    if pruned and not cached["pruned"]:
        work.append((stage_images(rate, 0), rate))
    if cell and not cached["cell"]:
        work.append((stage_images(rate, plan["budget_epochs"] * plan["rounds"], plan["rounds"]), rate))
    return work
