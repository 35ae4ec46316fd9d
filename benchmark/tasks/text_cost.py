"""What a language-model cell's plan counts and costs: parameters, tokens, estimated GPU-hours.

Read by the text task's plan members (:mod:`benchmark.tasks.text`) for the one plan mode
(:mod:`benchmark.plan`); nothing is downloaded.

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

from typing import Any, Dict, List

from benchmark.lm.corpus import vocab_size
from benchmark.lm.models import parameter_count
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


def plan_counts(cfg: BenchmarkConf, epochs: int) -> Dict[str, Any]:
    """The counts and estimated GPU-hours per stage of a validated cell (``epochs``: its budget T)."""
    n = parameter_count(cfg.model, vocab_size(cfg.dataset))
    tokens = _tokens(cfg, epochs, _blocks(cfg))
    per_train = 6 if cfg.retrain.params == "all" else 4
    if cfg.retrain.objective == "reconstruct":  # and a dense forward per training token, for the targets
        per_train += 2
    flops = {"baseline": 6 * n * tokens["baseline_train"] + 2 * n * tokens["evaluate"],
             "pruned": 2 * n * (tokens["calibration"] + tokens["evaluate"]),
             "cell": per_train * n * tokens["retrain"] + 2 * n * tokens["evaluate"]}
    rate = cfg.plan.gpu_tflops * 1e12 * cfg.plan.mfu * 3600
    return {
        "params": n,
        "tokens": tokens,
        "gpu_hours": {k: v / rate for k, v in flops.items()},
        "assumed": f"{cfg.plan.gpu_tflops:g} TFLOP/s x MFU {cfg.plan.mfu:g}",
        "rounds": 1,
        "baseline_epochs": 0 if cfg.model.pretrained else cfg.recipe.epochs,
        "steps_per_epoch": max(1, cfg.dataset.train_tokens // (cfg.dataset.block_size * cfg.recipe.batch_size)),
    }


def plan_lines(plan: Dict[str, Any]) -> List[str]:
    return [f"params    {plan['params']:,}",
            "tokens    " + "  ".join(f"{k}={v:,}" for k, v in plan["tokens"].items())]


def describe_cost(plan: Dict[str, Any]) -> str:
    hours = plan["gpu_hours"]
    return (f"GPU-hours dense {hours['baseline']:.3g}  prune {hours['pruned']:.3g}  retrain {hours['cell']:.3g} "
            f"(estimate: {plan['assumed']})")
