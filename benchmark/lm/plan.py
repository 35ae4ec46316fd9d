"""Plan mode for a language-model cell: counts and estimated GPU-hours, nothing downloaded.

The parameter count N comes from the model's config on the meta device (exact), or for a hub
model not on this machine from ``model.num_params`` or a table of known sizes. Tokens processed
per stage follow from the data settings (one epoch = ``dataset.train_tokens`` tokens), and the
FLOPs from the usual transformer estimate: 6 N per training token when every parameter trains
(forward 2N, backward 4N), 4 N when only biases/norms or adapters train (no weight gradients
for the frozen matrices, an approximation), 2 N per token evaluated or calibrated. GPU-hours =
FLOPs / (``plan.gpu_tflops`` x ``plan.mfu``): an estimate for sizing a Slurm allocation, not a
measurement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from benchmark.identity import Identity, cell_name
from benchmark.lm.corpus import vocab_size
from benchmark.lm.models import parameter_count
from benchmark.records import read_record
from benchmark.retraining import schedules
from benchmark.retraining.derivation import describe
from benchmark.schema import BenchmarkConf


def _tokens(cfg: BenchmarkConf, epochs: int, blocks: int) -> Dict[str, int]:
    d = cfg.dataset
    evaluated = d.test_tokens + d.val_tokens
    calibration = 0 if cfg.pruner.name in ("none", "magnitude") else cfg.pruner.calibration_samples * d.block_size
    return {"baseline_train": 0 if cfg.model.pretrained else cfg.recipe.epochs * d.train_tokens,
            # sequential calibration reruns the pruned prefix for each of the blocks (benchmark.lm.prune)
            "calibration": calibration * blocks, "retrain": epochs * d.train_tokens, "evaluate": evaluated}


def _blocks(cfg: BenchmarkConf) -> int:
    layers = cfg.model.config.get("num_hidden_layers") if not cfg.model.pretrained else None
    return int(layers or {"facebook/opt-125m": 12}.get(cfg.model.name, 32))


def plan_lm_cell(cfg: BenchmarkConf, epochs: int, ident: Identity) -> Dict[str, Any]:
    """The plan of a validated cell (``epochs``: its budget T) with its identities."""
    n = parameter_count(cfg.model, vocab_size(cfg.dataset))
    tokens = _tokens(cfg, epochs, _blocks(cfg))
    per_train = 6 if cfg.retrain.params == "all" else 4
    if cfg.retrain.objective == "reconstruct":  # and a dense forward per training token, for the targets
        per_train += 2
    flops = {"baseline": 6 * n * tokens["baseline_train"] + 2 * n * tokens["evaluate"],
             "pruned": 2 * n * (tokens["calibration"] + tokens["evaluate"]),
             "cell": per_train * n * tokens["retrain"] + 2 * n * tokens["evaluate"]}
    rate = cfg.plan.gpu_tflops * 1e12 * cfg.plan.mfu * 3600
    steps = max(1, cfg.dataset.train_tokens // (cfg.dataset.block_size * cfg.recipe.batch_size))
    cache = Path(cfg.paths.cache)
    record = read_record(cache / "cells" / ident.cell / "record.json")
    return {
        "name": cell_name(cfg, epochs) + f"-{cfg.retrain.params}",
        "identity": ident.as_dict(),
        "params": n,
        "tokens": tokens,
        "gpu_hours": {k: v / rate for k, v in flops.items()},
        "assumed": f"{cfg.plan.gpu_tflops:g} TFLOP/s x MFU {cfg.plan.mfu:g}",
        "budget_epochs": epochs, "baseline_epochs": 0 if cfg.model.pretrained else cfg.recipe.epochs, "rounds": 1,
        "steps_per_epoch": steps,
        "derivation": describe(cfg.schedule, cfg.recipe, epochs),
        "lr_at_epoch_start": schedules.lr_at_epoch_start(steps, epochs, cfg.schedule, cfg.recipe),
        "cached": {"baseline": (cache / "baselines" / ident.baseline / "model.pt").exists(),
                   "pruned": (cache / "pruned" / ident.pruned / "model.pt").exists(),
                   "cell": record is not None and record.done},
    }


def format_lm_plan(plan: Dict[str, Any]) -> str:
    hours = plan["gpu_hours"]
    lines = [f"cell      {plan['name']}",
             "identity  " + "  ".join(f"{k}={v}" for k, v in plan["identity"].items()),
             f"params    {plan['params']:,}",
             "tokens    " + "  ".join(f"{k}={v:,}" for k, v in plan["tokens"].items()),
             f"GPU-hours dense {hours['baseline']:.3g}  prune {hours['pruned']:.3g}  retrain {hours['cell']:.3g} "
             f"(estimate: {plan['assumed']})",
             f"budget    T={plan['budget_epochs']} epochs x {plan['steps_per_epoch']} iterations",
             "cached    " + "  ".join(f"{k}={'yes' if v else 'no'}" for k, v in plan["cached"].items()),
             *plan["derivation"]]
    return "\n".join(lines)
