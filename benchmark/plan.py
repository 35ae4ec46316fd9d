"""Plan mode: what a cell would compute, with nothing trained and no data loaded.

One plan for every task: the cell's identities, its budget, the retraining rates from the same
schedule code as training, and what the cache already holds are computed here; the counts and
the cost are the task's (:meth:`benchmark.tasks.Task.plan_counts`): an image cell's parameters
and FLOPs before and after pruning (structured widths depend only on the architecture and the
pruner config, so pruning a freshly initialised model gives the exact counts) with hours from
images per second, a language model's parameters and tokens with GPU-hours from FLOPs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

from benchmark.cell import validate
from benchmark.identity import cell_name
from benchmark.records import read_record
from benchmark.retraining import schedules
from benchmark.retraining.derivation import describe
from benchmark.schema import BenchmarkConf
from benchmark.tasks import cell_identity, task_named, task_of


def plan_cell(cfg: BenchmarkConf) -> Dict[str, Any]:
    """The cell's identity, counts, schedule, cost and what the cache already holds."""
    epochs = validate(cfg)
    task = task_of(cfg)
    ident = cell_identity(cfg, epochs, plan=True)  # weights not on this machine: their name stands in
    counts = task.plan_counts(cfg, epochs, ident)
    steps = counts["steps_per_epoch"]
    cache = Path(cfg.paths.cache)
    record = read_record(cache / "cells" / ident.cell / "record.json")
    return {
        "task": task.name,
        "name": cell_name(cfg, epochs) + task.label(cfg, "-"),
        "identity": ident.as_dict(),
        "precision": ident.payloads["baseline"]["precision"],  # what every stage trains and evaluates in
        **counts,
        "budget_epochs": epochs,
        "derivation": describe(cfg.schedule, cfg.recipe, epochs),
        # ALLR's rate is decided after pruning: no per-epoch rates to show before it.
        "lr_at_epoch_start": (None if cfg.schedule.name == "allr"
                              else schedules.lr_at_epoch_start(steps, epochs, cfg.schedule, cfg.recipe)),
        "cached": {
            "baseline": (cache / "baselines" / ident.baseline / "model.pt").exists(),
            "pruned": (cache / "pruned" / ident.pruned / "model.pt").exists(),
            "cell": record is not None and record.done,
        },
    }


def format_plan(plan: Dict[str, Any], fmt: str) -> str:
    """``json``: one JSON object on one line; ``text``: a short human-readable summary."""
    if fmt == "json":
        return json.dumps(plan)
    task = task_named(plan["task"])
    lrs = plan["lr_at_epoch_start"]
    lines = [
        f"cell      {plan['name']}",
        "identity  " + "  ".join(f"{k}={v}" for k, v in plan["identity"].items()),
        f"precision {plan['precision']}",
        *task.plan_lines(plan),
        f"budget    T={plan['budget_epochs']} epochs x {plan['steps_per_epoch']} iterations"
        + (f" x {plan['rounds']} rounds" if plan["rounds"] > 1 else "") + " "
        f"(baseline E={plan['baseline_epochs']})",
        "cached    " + "  ".join(f"{k}={'yes' if v else 'no'}" for k, v in plan["cached"].items()),
        "cost      " + task.describe_cost(plan),
        *plan["derivation"],
    ]
    if lrs is None:
        return "\n".join(lines + ["lr per retraining epoch: decided after pruning"])
    lines += ["lr per retraining epoch (first iteration):"] + [f"  epoch {e:4d}  {lr:.6g}" for e, lr in enumerate(lrs)]
    return "\n".join(lines)
