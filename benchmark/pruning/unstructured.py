"""Unstructured weight pruning with ``torch.nn.utils.prune`` masks.

Magnitude weight pruning (Han et al. 2015) zeroes the smallest conv weights under one
global threshold; the random variant zeroes the same number at random. The masks stay
attached (``weight = weight_orig * weight_mask``) during retraining, so pruned weights
are exactly zero at every step and after it. Applying the method again prunes the
given fraction of the *remaining* weights (iterative pruning). A model without convs to
speak of (the ViT) names its own weight layers (``weight_pruning_layers``: its linear layers).
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from benchmark.pruning.spec import PruningSpec

METHODS = {"mwp": torch_prune.L1Unstructured, "random_unstructured": torch_prune.RandomUnstructured}


def conv_layers(model: nn.Module) -> List[str]:
    """The layers weight pruning masks: every conv, or the model's own list."""
    if hasattr(model, "weight_pruning_layers"):
        return model.weight_pruning_layers()
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def prune_weights(model: nn.Module, spec: PruningSpec, seed: int) -> List[str]:
    """Mask ``spec.sparsity`` of the remaining conv weights globally; return the masked layers."""
    names = conv_layers(model)
    modules = dict(model.named_modules())
    for name in names:  # refresh masked weights, which the last forward may have left channels_last
        if torch_prune.is_pruned(modules[name]):
            modules[name].weight = (modules[name].weight_orig * modules[name].weight_mask).contiguous()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # RandomUnstructured draws from the global generator
        torch_prune.global_unstructured([(modules[n], "weight") for n in names], pruning_method=METHODS[spec.name],
                                        amount=spec.sparsity)
    return names


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
