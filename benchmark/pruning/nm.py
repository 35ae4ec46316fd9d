"""N:M semi-structured sparsity: at most N nonzero weights in every M consecutive input channels.

The pattern is the one sparse tensor cores run (2:4 on NVIDIA Ampere and later): for a linear
layer, groups of M consecutive input features of each row; for a conv, groups of M consecutive
input channels at each (output channel, kernel position), as TensorRT and cuDNN lay it out.
The N largest magnitudes of each group are kept. When M does not divide a layer's input
channels, the last (channels mod M) are left dense and the record names them (a 3-channel stem
or a depthwise conv stays whole); every full group holds the property. Masks are
``torch.nn.utils.prune`` masks, fixed while retraining like MWP's, so saving and rebuilding go
through the same pruning history. (``torch.ao.pruning.WeightNormSparsifier`` blocks conv weights
as flattened rows and masks through parametrizations, which this suite's history does not rebuild.)

PyTorch's semi-structured kernels (``torch.sparse.to_sparse_semi_structured``) take 2:4 linear
weights in fp16/bf16 on CUDA; this suite does not swap them in: every device runs the masks, and
the record says so (``kernels``).
"""

from __future__ import annotations

from typing import Any, Dict, List

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from benchmark.errors import ConfigError


def grouped(weight: torch.Tensor, m: int) -> torch.Tensor:
    """The weight's full groups of M input channels as [..., groups, M] (a view of a permuted copy):
    rows of a linear weight, (out, kh, kw) positions of a conv weight."""
    rows = weight if weight.dim() == 2 else weight.permute(0, 2, 3, 1)  # conv: input channels last
    full = rows.shape[-1] // m * m
    return rows[..., :full].reshape(*rows.shape[:-1], full // m, m)


def nm_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """1 for the N largest magnitudes of every group of M input channels, and for the remainder."""
    rows = weight.detach() if weight.dim() == 2 else weight.detach().permute(0, 2, 3, 1)
    mask = torch.ones_like(rows)
    full = rows.shape[-1] // m * m
    groups = grouped(weight.detach(), m).abs()
    keep = torch.zeros_like(groups).scatter_(-1, groups.topk(n, dim=-1).indices, 1.0)
    mask[..., :full] = keep.reshape(*rows.shape[:-1], full)
    return mask if weight.dim() == 2 else mask.permute(0, 3, 1, 2).contiguous()


def validate(n: int, m: int) -> None:
    if not 1 <= n < m:
        raise ConfigError(f"pruner.n={n} and pruner.m={m}: N:M sparsity needs 1 <= N < M")


def prune_nm(model: nn.Module, names: List[str], n: int, m: int) -> List[str]:
    """Mask every named layer to N:M in place; return the masked layers."""
    validate(n, m)
    modules = dict(model.named_modules())
    for name in names:
        torch_prune.custom_from_mask(modules[name], "weight", nm_mask(modules[name].weight, n, m))
    return names


def report(model: nn.Module, names: List[str], n: int, m: int) -> Dict[str, Any]:
    """The pruned model's density over the N:M layers, the channels left dense where M does not
    divide a layer's inputs, and whether semi-structured kernels ran (never here: masks)."""
    modules = dict(model.named_modules())
    kept = sum(int(modules[name].weight_mask.sum()) for name in names)
    total = sum(modules[name].weight_mask.numel() for name in names)
    remainder = {name: modules[name].weight.shape[1] % m for name in names if modules[name].weight.shape[1] % m}
    return {"n": n, "m": m, "density": kept / total, "dense_remainder_channels": remainder,
            "kernels": {"used": False, "why": "masks on every device: semi-structured kernels are not swapped in"}}
