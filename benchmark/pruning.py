"""Structured filter pruning: the pruning plan, the filter scores, and the surgery.

The plan (how many filters each prunable conv keeps) is one function of the pruner
config and the architecture, so L1 and random pruning of the same config produce the
identical architecture; only the filter scores differ. Torch-Pruning's
DependencyGraph performs the surgery, removing the filters and the matching BN
channels and input channels downstream, so the pruned model is physically smaller.
A pruned model is stored as Torch-Pruning's pruning history plus its state_dict.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import torch
import torch_pruning as tp
from torch import nn

from benchmark.errors import ConfigError

Conf = Any
PRUNERS = ("none", "l1", "random")


def _ratio_for(stage: int, pruner: Conf) -> float:
    if pruner.stage_ratios is not None:
        return float(pruner.stage_ratios[stage])
    return float(pruner.ratio)


def validate(pruner: Conf, model: nn.Module) -> None:
    """One-line errors for a pruner that this model cannot take, before any training."""
    if pruner.name not in PRUNERS:
        raise ConfigError(f"pruner={pruner.name!r} is unknown; valid: {', '.join(PRUNERS)}")
    if not hasattr(model, "prunable_convs"):
        raise ConfigError(f"pruner={pruner.name} cannot prune {type(model).__name__}: it lists no prunable convs")
    convs = model.prunable_convs()
    stages = 1 + max(stage for _, stage, _ in convs)
    ratios = [pruner.ratio] if pruner.stage_ratios is None else list(pruner.stage_ratios)
    if pruner.stage_ratios is not None and len(ratios) != stages:
        raise ConfigError(f"pruner.stage_ratios has {len(ratios)} entries; this model has {stages} stages")
    for r in ratios:
        if not 0.0 <= r < 1.0:
            raise ConfigError(f"pruning ratio {r} must lie in [0, 1)")
    known = {layer_id for layer_id, _, _ in convs}
    unknown = sorted(set(pruner.skip_layers) - known)
    if unknown:
        raise ConfigError(f"pruner.skip_layers {unknown} are not prunable layer ids of this model: {sorted(known)}")


def plan_widths(model: nn.Module, pruner: Conf) -> Dict[int, int]:
    """Filters each prunable conv keeps: int(C (1 - p)), or C for skipped layers."""
    plan = {}
    for layer_id, stage, conv in model.prunable_convs():
        channels = conv.out_channels
        if pruner.name == "none" or layer_id in set(pruner.skip_layers):
            plan[layer_id] = channels
        else:
            plan[layer_id] = max(1, int(channels * (1.0 - _ratio_for(stage, pruner))))
    return plan


def l1_scores(conv: nn.Conv2d, generator: torch.Generator) -> torch.Tensor:
    """PFEC's criterion: the L1 norm of each filter of this conv alone."""
    return conv.weight.detach().abs().sum(dim=(1, 2, 3))


def random_scores(conv: nn.Conv2d, generator: torch.Generator) -> torch.Tensor:
    """Random filter scores drawn from the pruning seed: same widths, random survivors."""
    return torch.rand(conv.out_channels, generator=generator)


SCORES: Dict[str, Callable[[nn.Conv2d, torch.Generator], torch.Tensor]] = {"l1": l1_scores, "random": random_scores}


def prune(model: nn.Module, pruner: Conf, seed: int, image_size: int = 32) -> List:
    """Remove filters in place following the plan; return Torch-Pruning's history."""
    validate(pruner, model)
    if pruner.name == "none":
        return []
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, image_size, image_size, device=device))
    plan = plan_widths(model, pruner)
    for layer_id, _, conv in model.prunable_convs():
        drop = conv.out_channels - plan[layer_id]
        if drop <= 0:
            continue
        scores = SCORES[pruner.name](conv, generator).cpu()
        # Lowest scores go; stable sort keeps ties deterministic.
        victims = torch.sort(scores, stable=True).indices[:drop].tolist()
        graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=victims).prune()
    return graph.pruning_history()


def apply_history(model: nn.Module, history: List, image_size: int = 32) -> nn.Module:
    """Rebuild a pruned architecture from the dense model and a saved history."""
    if history:
        device = next(model.parameters()).device
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, image_size, image_size, device=device))
        graph.load_pruning_history(history)
    return model
