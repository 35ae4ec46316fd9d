"""Unstructured weight pruning with ``torch.nn.utils.prune`` masks.

Magnitude weight pruning (Han et al. 2015) zeroes the smallest conv weights under one
global threshold; the random variant zeroes the same number at random. ``pruner.allocation``
shares the sparsity among layers otherwise (``benchmark.pruning.allocation``: uniform, ERK,
LAMP), each layer then pruned by the same method to its count. The masks stay
attached (``weight = weight_orig * weight_mask``) during retraining, so pruned weights
are exactly zero at every step and after it. Applying the method again prunes the
given fraction of the *remaining* weights (iterative pruning). A model without convs to
speak of (the ViT) names its own weight layers (``weight_pruning_layers``: its linear layers).
"""

from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from benchmark.pruning.allocation import kept_counts
from benchmark.pruning.spec import PruningSpec

# Which weights go once a layer's count is known: by magnitude (mwp, and agp's every update) or at random.
METHODS = {"mwp": torch_prune.L1Unstructured, "random_unstructured": torch_prune.RandomUnstructured,
           "agp": torch_prune.L1Unstructured}


def conv_layers(model: nn.Module) -> List[str]:
    """The layers weight pruning masks: every conv, or the model's own list."""
    if hasattr(model, "weight_pruning_layers"):
        return model.weight_pruning_layers()
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def weight_layers(model: nn.Module, spec: PruningSpec) -> List[str]:
    """The layers a weight pruner masks: :func:`conv_layers`, plus the classifier (the last linear
    layer) with ``pruner.classifier=sparse``."""
    names = conv_layers(model)
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if spec.classifier == "sparse" and linears and linears[-1] not in names:
        names = names + [linears[-1]]
    return names


def dense_layers(names: List[str], spec: PruningSpec) -> List[str]:
    """The layers held whole: the first with ``first_layer=dense``, or by default under the uniform
    allocation (Evci et al. 2020 keep it dense; global, ERK and LAMP prune it by their own rule)."""
    first = spec.first_layer == "dense" or (spec.first_layer == "auto" and spec.allocation == "uniform")
    return names[:1] if first else []


def refresh(model: nn.Module, names: List[str]) -> Dict[str, nn.Module]:
    """The named modules, masked weights recomputed from ``weight_orig`` (the last forward
    computed them before the last optimizer step, and may have left them channels_last)."""
    modules = dict(model.named_modules())
    for name in names:
        if torch_prune.is_pruned(modules[name]):
            modules[name].weight = (modules[name].weight_orig * modules[name].weight_mask).contiguous()
    return modules


def prune_to(model: nn.Module, spec: PruningSpec, seed: int, keep: int) -> List[str]:
    """Mask the layers of :func:`weight_layers` until ``keep`` of their weights remain, shared by
    ``spec.allocation``; return the masked layers."""
    names = weight_layers(model, spec)
    modules = refresh(model, names)
    dense, kept = dense_layers(names, spec), remaining_weights(model, names)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # RandomUnstructured draws from the global generator
        if spec.allocation == "global":
            sparse = [(modules[n], "weight") for n in names if n not in dense]
            amount = sum(kept[n] for n in names) - keep
            torch_prune.global_unstructured(sparse, pruning_method=METHODS[spec.name], amount=max(0, amount))
        else:
            masked = {n: modules[n].weight.detach() for n in names}
            counts = kept_counts(spec.allocation, masked, kept, dense, keep)
            for n in names:
                METHODS[spec.name].apply(modules[n], "weight", amount=kept[n] - counts[n])
    attach_masks(model, names)  # the layers held dense carry masks too, so a history rebuilds them all
    return names


def prune_weights(model: nn.Module, spec: PruningSpec, seed: int) -> List[str]:
    """Mask ``spec.sparsity`` of the remaining weights (by ``spec.allocation``); return the masked layers."""
    if spec.allocation == "global" and spec.first_layer != "dense" and spec.classifier == "dense":
        # Today's MWP, call for call: the float amount is torch's own round(sparsity x remaining).
        names = conv_layers(model)
        modules = refresh(model, names)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # RandomUnstructured draws from the global generator
            torch_prune.global_unstructured([(modules[n], "weight") for n in names],
                                            pruning_method=METHODS[spec.name], amount=spec.sparsity)
        return names
    remaining = sum(remaining_weights(model, weight_layers(model, spec)).values())
    return prune_to(model, spec, seed, remaining - round(spec.sparsity * remaining))


def remaining_weights(model: nn.Module, names: List[str]) -> Dict[str, int]:
    """Each layer's unmasked weight count (its size when it has no mask yet)."""
    modules = dict(model.named_modules())
    return {n: int(modules[n].weight_mask.sum()) if torch_prune.is_pruned(modules[n]) else modules[n].weight.numel()
            for n in names}


def layer_sparsity(model: nn.Module) -> Dict[str, float]:
    """Every masked layer's achieved sparsity (fraction of its weights masked), by module name."""
    return {name: 1.0 - float(m.weight_mask.sum()) / m.weight_mask.numel()
            for name, m in model.named_modules() if torch_prune.is_pruned(m) and hasattr(m, "weight_mask")}


def attach_masks(model: nn.Module, names: List[str]) -> nn.Module:
    """Give the named convs mask buffers, so a saved masked state_dict loads into them."""
    modules = dict(model.named_modules())
    for name in names:
        if not torch_prune.is_pruned(modules[name]):
            torch_prune.identity(modules[name], "weight")
    return model


def conv_sparsity(model: nn.Module) -> float:
    """Fraction of the weights of the layers weight pruning covers that are exactly zero."""
    modules = dict(model.named_modules())
    weights = [modules[name].weight for name in conv_layers(model)]
    total = sum(w.numel() for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights) / total)
