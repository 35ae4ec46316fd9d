"""Pruning: structured filter removal (Torch-Pruning) and unstructured masks (torch.nn.utils.prune).

``resolve`` turns a pruner config into a spec for one model, ``prune`` applies one round
of it in place and returns a history, and ``rebuild`` recreates the pruned model from the
dense one plus that history, which is how pruned models are saved (never as pickled
modules). After structural surgery the optimizer must be rebuilt for the new parameter
tensors; ``benchmark.train.train`` always builds a fresh one, as the paper does.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from benchmark.errors import ConfigError
from benchmark.pruning.counting import count_macs, count_params
from benchmark.pruning.spec import _plain as spec_plain
from benchmark.pruning.spec import (
    PRUNERS,
    PruningSpec,
    resolve,
    variants,
    with_ratio,
)
from benchmark.pruning.spec import validate as validate_spec
from benchmark.pruning import checkpoint, custom, gradual, nm, structure
from benchmark.pruning.allocation import kept_counts, unreachable
from benchmark.pruning.generic import data_dependent, prune_by_graph
from benchmark.sources import file_fingerprint
from benchmark.pruning.graph import after_surgery
from benchmark.pruning.structured import Batches, plan_widths, prune_filters, replay
from benchmark.pruning.unstructured import (attach_masks, conv_sparsity, dense_layers, layer_sparsity, prune_to,
                                            prune_weights, weight_layers)

__all__ = ["PRUNERS", "PruningSpec", "resolve", "validate", "variants", "prune", "rebuild", "match_target",
           "plan_widths", "conv_sparsity", "layer_sparsity", "empty_history", "by_graph", "step_hook", "mask_report"]

History = Dict[str, List]


def empty_history() -> History:
    return {"filters": [], "masked": []}


def by_graph(spec: PruningSpec, model: nn.Module) -> bool:
    """Whether ``spec`` prunes through the generic graph pruner (pruning/graph.py): every
    ``torch_pruning`` importance, and l1/random/taylor on models listing no prunable convs."""
    return spec.graph or (spec.structured and not hasattr(model, "prunable_convs"))


def validate(spec: PruningSpec, model: nn.Module) -> None:
    """One-line errors for a spec this model cannot take, before any training: the spec's own
    checks, and whether the allocation can reach the sparsity of the last round on this model."""
    validate_spec(spec, model)
    if spec.gradual:
        gradual.validate(spec)
    if spec.name == "nm":
        nm.validate(spec.n, spec.m)
    if not spec.unstructured or spec.allocation == "global":
        return
    modules = dict(model.named_modules())
    names = weight_layers(model, spec)
    sizes = {name: modules[name].weight.numel() for name in names}
    keep = sum(sizes.values())
    for _ in range(spec.rounds):
        keep -= round(spec.sparsity * keep)
    dense = dense_layers(names, spec)
    if spec.allocation == "lamp":  # LAMP's counts depend on the weights; only the dense layers can block it
        if sum(sizes[name] for name in dense) > keep:
            raise unreachable(spec.allocation, {name: sizes[name] for name in dense}, keep)
        return
    kept_counts(spec.allocation, {name: modules[name].weight for name in names}, sizes, dense, keep)


def step_hook(spec: PruningSpec, model: nn.Module, seed: int, total_steps: int) -> Optional[gradual.GradualPruning]:
    """What the training loop calls every step while retraining (AGP's mask updates), or None."""
    return gradual.GradualPruning(model, spec, seed, total_steps) if spec.gradual else None


def mask_report(model: nn.Module, spec: PruningSpec) -> Dict[str, Any]:
    """What the record says of a masked model: every masked layer's sparsity, and for N:M the
    density and whether semi-structured kernels ran."""
    report: Dict[str, Any] = {"layer_sparsity": layer_sparsity(model)}
    if spec.name == "nm":
        report["nm"] = nm.report(model, weight_layers(model, spec), spec.n, spec.m)
    return report


def prune(model: nn.Module, spec: PruningSpec, seed: int, batches: Optional[Batches] = None,
          criterion: Optional[str] = None, history: Optional[History] = None, image_size: int = 32) -> History:
    """Apply one round of ``spec`` in place; return ``history`` extended by this round."""
    validate(spec, model)
    # Training may have left weights channels_last; torch.nn.utils.prune flattens with view().
    model.to(memory_format=torch.contiguous_format)
    history = copy.deepcopy(history) if history is not None else empty_history()
    if spec.widths_from is not None:
        widths = checkpoint.checkpoint_widths(model, spec.widths_from)
        history["filters"] += checkpoint.random_to_widths(model, widths, seed, image_size)
    elif spec.name == "custom":
        history["structure"] = custom.run(model, spec, seed, batches, image_size, history.get("structure"))
    elif spec.name == "checkpoint":
        raise ValueError("pruner=checkpoint loads a network (checkpoint.load_pruned); it does not prune one")
    elif by_graph(spec, model):
        history["filters"] += prune_by_graph(model, spec, seed, batches, criterion, image_size)
    elif spec.structured:
        history["filters"] += prune_filters(model, spec, seed, batches, criterion, image_size)
    elif spec.gradual:  # s_i now; the rest while retraining (step_hook)
        masked = prune_to(model, spec, seed, gradual.initial_keep(model, spec))
        history["masked"] = sorted(set(history["masked"]) | set(masked))
    elif spec.unstructured:
        masked = prune_weights(model, spec, seed)
        history["masked"] = sorted(set(history["masked"]) | set(masked))
    elif spec.name == "nm":
        masked = nm.prune_nm(model, weight_layers(model, spec), spec.n, spec.m)
        history["masked"] = sorted(set(history["masked"]) | set(masked))
    return history


def rebuild(model: nn.Module, history: History, image_size: int = 32) -> nn.Module:
    """The pruned architecture (and mask buffers) from the dense model and a history;
    load the saved state_dict into the result. The dense model is replaced where the history
    names a separately built architecture (``pruner=checkpoint pruner.architecture``)."""
    if "architecture" in history:
        return checkpoint.build_architecture(history["architecture"], next(model.parameters()).device)
    if "structure" in history:
        return structure.apply(model, history["structure"])
    after_surgery(replay(model, history.get("filters", []), image_size))
    return attach_masks(model, history.get("masked", []))


def fingerprint(pruner: Any) -> Dict[str, Any]:
    """The content of what a pruner config names (a callable, a file) for the pruned identity;
    empty for the built-in pruners, so their identities do not change."""
    if pruner.name == "custom":
        return custom.fingerprint(pruner.function, dict(spec_plain(pruner.kwargs)))
    if pruner.name == "checkpoint":
        return checkpoint.fingerprint(pruner.path, spec_plain(pruner.architecture))
    if pruner.widths_from is not None:
        return {"widths_from": file_fingerprint(pruner.widths_from, "pruner.widths_from")}
    return {}


def check_files(spec: PruningSpec, model: nn.Module, num_classes: int, image_size: int) -> None:
    """A checkpoint that does not fit the model is one line before any training."""
    if spec.name == "checkpoint":
        checkpoint.load_pruned(model, spec, num_classes, image_size)
    if spec.widths_from is not None:
        checkpoint.checkpoint_widths(model, spec.widths_from)


def _reduction(model: nn.Module, spec: PruningSpec, metric: str, dense: float, image_size: int) -> float:
    trial = copy.deepcopy(model)
    prune(trial, spec, seed=0, criterion="l1", image_size=image_size)
    return 1.0 - (count_params(trial) if metric == "params" else count_macs(trial, image_size)) / dense


def match_target(model: nn.Module, spec: PruningSpec, metric: str, target: float, steps: int = 20,
                 image_size: int = 32) -> PruningSpec:
    """The uniform-ratio spec whose parameter (or FLOP) reduction comes closest to ``target``,
    found by bisection, as the paper does to meet other methods' published sizes."""
    if not (spec.structured or spec.graph):
        raise ConfigError(f"pruner.target_reduction needs a filter pruner, not {spec.name}")
    if by_graph(spec, model) and data_dependent(spec):
        raise ConfigError("pruner.target_reduction cannot be matched with pruner.global_pruning=true and an "
                          "importance that reads data (the widths depend on the batches); use a ratio")
    if metric not in ("params", "flops"):
        raise ConfigError(f"pruner.target_metric={metric!r} is not one of: params, flops")
    dense = count_params(model) if metric == "params" else count_macs(model, image_size)
    # Torch-Pruning leaves a group whole where a ratio would empty it, so the reduction stops
    # rising near 1: bisect below the first upper bound that reaches the target.
    low, high = 0.0, next((r for r in (0.99, 0.95, 0.9, 0.8, 0.7)
                           if _reduction(model, with_ratio(spec, r), metric, dense, image_size) >= target), None)
    if high is None:
        raise ConfigError(f"pruner.target_reduction={target} is out of reach for this model and skip list")
    for _ in range(steps):
        middle = (low + high) / 2
        if _reduction(model, with_ratio(spec, middle), metric, dense, image_size) >= target:
            high = middle
        else:
            low = middle
    best = min((low, high), key=lambda r: abs(_reduction(model, with_ratio(spec, r), metric, dense, image_size) - target))
    return with_ratio(spec, round(best, 6))
