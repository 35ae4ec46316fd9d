"""Structured filter pruning: widths from the spec, filter scores, and the surgery.

The widths each prunable conv keeps depend only on the spec and the architecture, so
L1, random and Taylor pruning of one spec give the identical architecture; only the
scores that choose the surviving filters differ. Torch-Pruning's DependencyGraph does
the surgery, removing the filters together with the matching BN channels and the
input channels downstream, so the pruned model is physically smaller.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from benchmark.pruning.spec import PruningSpec

Batches = Callable[[], Iterable[Tuple[torch.Tensor, torch.Tensor]]]


def _rounded(keep: int, channels: int, multiple: int) -> int:
    if multiple <= 1:
        return keep
    return min(channels, max(multiple, int(round(keep / multiple)) * multiple))


def plan_widths(model: nn.Module, spec: PruningSpec) -> Dict[int, int]:
    """Filters each prunable conv keeps: int(C (1 - p)), C when skipped, or the explicit width."""
    plan = {}
    for index, (layer_id, stage, conv) in enumerate(model.prunable_convs()):
        channels = conv.out_channels
        if spec.widths is not None:
            keep = min(channels, int(spec.widths[index]))
        elif layer_id in spec.skip_layers:
            keep = channels
        else:
            ratio = spec.ratio if spec.stage_ratios is None else spec.stage_ratios[stage]
            keep = max(1, int(channels * (1.0 - ratio)))
        plan[layer_id] = _rounded(keep, channels, spec.round_to)
    return plan


def l1_scores(model: nn.Module, generator: torch.Generator, batches: Optional[Batches]) -> Dict[nn.Conv2d, torch.Tensor]:
    """PFEC's criterion: the L1 norm of each filter of the conv alone."""
    return {conv: conv.weight.detach().abs().sum(dim=(1, 2, 3)).cpu() for _, _, conv in model.prunable_convs()}


def random_scores(model: nn.Module, generator: torch.Generator, batches: Optional[Batches]) -> Dict[nn.Conv2d, torch.Tensor]:
    """Random scores from the pruning seed: the same widths as L1, random survivors."""
    return {conv: torch.rand(conv.out_channels, generator=generator) for _, _, conv in model.prunable_convs()}


def taylor_scores(model: nn.Module, generator: torch.Generator, batches: Optional[Batches]) -> Dict[nn.Conv2d, torch.Tensor]:
    """Taylor-FO-BN (Molchanov et al. 2019): per channel, (gamma dL/dgamma + beta dL/dbeta)^2
    of the BN after the conv, summed over a few training batches. BN runs in eval mode so
    scoring leaves its running statistics untouched."""
    if batches is None:
        raise ValueError("taylor scores need training batches")
    convs = [conv for _, _, conv in model.prunable_convs()]
    bns = {conv: model.batchnorm_after(conv) for conv in convs}
    scores = {conv: torch.zeros(conv.out_channels) for conv in convs}
    was_training = model.training
    model.eval()
    for images, labels in batches():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        for conv, bn in bns.items():
            term = bn.weight * bn.weight.grad + bn.bias * bn.bias.grad
            scores[conv] += term.detach().pow(2).cpu()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return scores


SCORES = {"l1": l1_scores, "random": random_scores, "taylor": taylor_scores}


def prune_filters(model: nn.Module, spec: PruningSpec, seed: int, batches: Optional[Batches] = None,
                  criterion: Optional[str] = None, image_size: int = 32) -> List:
    """Remove filters in place following the spec; return Torch-Pruning's history.
    ``criterion`` overrides the spec's scores (plan mode: widths do not depend on them)."""
    generator = torch.Generator().manual_seed(seed)
    scores = SCORES[criterion or spec.name](model, generator, batches)
    device = next(model.parameters()).device
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, image_size, image_size, device=device))
    plan = plan_widths(model, spec)
    for layer_id, _, conv in model.prunable_convs():
        drop = conv.out_channels - plan[layer_id]
        if drop <= 0:
            continue
        # Lowest scores go; a stable sort keeps ties deterministic.
        victims = torch.sort(scores[conv], stable=True).indices[:drop].tolist()
        graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=victims).prune()
    return graph.pruning_history()


def replay(model: nn.Module, history: List, image_size: int = 32) -> nn.Module:
    """Rebuild a pruned architecture from the dense model and a saved history."""
    if history:
        device = next(model.parameters()).device
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, image_size, image_size, device=device))
        graph.load_pruning_history(history)
    return model
