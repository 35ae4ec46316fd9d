"""One-shot pruning of a causal LM: every linear layer of its transformer blocks, block by block.

The calibration batches are the first ``pruner.calibration_samples`` training blocks of the
pruning seed. Wanda and SparseGPT see each block's inputs as they arrive *after* the blocks
before it were pruned (both papers prune sequentially): for block b the model runs forward on
the calibration batches with hooks on block b's linears, whose statistics (sum of X_j^2 for
Wanda; for SparseGPT the reference's running mean 2/n X^T X over the n calibration sequences)
then decide their masks. This reruns the pruned prefix for every block (O(L^2) block forwards,
not the reference's O(L)); on the scales this suite runs it is the simple, exact choice. The
output head and the embeddings are never pruned.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Tuple

import torch
from torch import nn

from benchmark.errors import ConfigError
from benchmark.lm import pruners
from benchmark.lm.schema import LMPrunerConf


def _is_linear(module: nn.Module) -> bool:
    """nn.Linear, or GPT-2's Conv1D (a linear layer storing W transposed)."""
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def _transposed(module: nn.Module) -> bool:
    return type(module).__name__ == "Conv1D"


def blocks(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """The transformer blocks: the longest ModuleList of the model (decoder.layers, model.layers, h)."""
    lists = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ConfigError(f"{type(model).__name__} has no list of transformer blocks to prune")
    name, found = max(lists, key=lambda item: len(item[1]))
    return [(f"{name}.{i}", block) for i, block in enumerate(found)]


def prunable(model: nn.Module) -> Dict[str, nn.Module]:
    """Every linear layer inside the blocks, by its full name."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return {f"{bname}.{name}": m for bname, block in blocks(model) for name, m in block.named_modules()
            if _is_linear(m) and m is not head}


def weight_rows(module: nn.Module) -> torch.Tensor:
    """W as (out, in), a view of the module's weight."""
    return module.weight.t() if _transposed(module) else module.weight


class _Statistics:
    """Forward hooks gathering, per layer, sum_t X_tj^2 over calibration tokens (Wanda) or SparseGPT's
    H = 2/n X^T X over the n calibration sequences (:class:`pruners.Hessian`, the reference's running
    mean: the same whatever the batch split)."""

    def __init__(self, layers: Dict[str, nn.Module], gram: bool) -> None:
        self.sums: Dict[str, torch.Tensor] = {}
        self.hessians: Dict[str, pruners.Hessian] = {}
        self.sequences = 0  # in the batch now running: every layer counts it, whatever shape its input has
        self.handles = [m.register_forward_hook(self._hook(name, gram)) for name, m in layers.items()]

    def _hook(self, name: str, gram: bool) -> Callable:
        def hook(module: nn.Module, inputs: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).float()
            if gram:
                self.hessians.setdefault(name, pruners.Hessian()).add(x, self.sequences)
                self.sums[name] = self.hessians[name].H
            else:
                value = (x * x).sum(dim=0)
                self.sums[name] = self.sums[name] + value if name in self.sums else value
        return hook

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


@torch.no_grad()
def _calibrate(model: nn.Module, layers: Dict[str, nn.Module], batches: Iterable[torch.Tensor], gram: bool) -> Dict[str, torch.Tensor]:
    stats = _Statistics(layers, gram)
    try:
        for batch in batches:
            stats.sequences = int(batch.shape[0]) if batch.dim() > 1 else 1
            model(input_ids=batch)
    finally:
        stats.close()
    return stats.sums


@torch.no_grad()
def prune_lm(model: nn.Module, spec: LMPrunerConf, batches: Callable[[], Iterable[torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Prune ``model`` in place; return the keep-mask of every pruned layer (as (out, in))."""
    nm = pruners.parse_pattern(spec.pattern)
    layers = prunable(model)
    masks: Dict[str, torch.Tensor] = {}
    was_training = model.training
    model.eval()
    for bname, _ in blocks(model):
        group = {name: m for name, m in layers.items() if name.startswith(bname + ".")}
        stats = {} if spec.name == "magnitude" else _calibrate(model, group, batches(), spec.name == "sparsegpt")
        for name, module in group.items():
            rows = weight_rows(module)
            if spec.name == "magnitude":
                keep = pruners.magnitude_mask(rows, spec.sparsity, nm)
            elif spec.name == "wanda":
                keep = pruners.wanda_mask(rows, stats[name], spec.sparsity, nm)
            else:
                new, keep = pruners.sparsegpt(rows, stats[name], spec.sparsity, nm, spec.dampening, spec.blocksize)
                rows.copy_(new)
            rows.mul_(keep.to(rows.dtype))
            masks[name] = keep.cpu()
    model.train(was_training)
    return masks


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Dict[str, torch.Tensor]) -> None:
    """Zero every pruned weight again: after each optimizer step, and after merging adapters."""
    modules = dict(model.named_modules())
    for name, keep in masks.items():
        rows = weight_rows(_base_layer(modules, name))
        rows.mul_(keep.to(device=rows.device, dtype=rows.dtype))


def _base_layer(modules: Dict[str, nn.Module], name: str) -> nn.Module:
    """The linear layer of ``name``, also once peft has wrapped it (``...base_model.model.<name>.base_layer``)."""
    if name in modules:
        module = modules[name]
    else:
        matches = [k for k in modules if k.endswith("." + name)]
        if not matches:
            raise KeyError(name)
        module = modules[min(matches, key=len)]
    return getattr(module, "base_layer", module)


def layer_sparsity(model: nn.Module, masks: Dict[str, torch.Tensor]) -> float:
    """The fraction of zero weights over the pruned layers (what the record calls sparsity)."""
    modules = dict(model.named_modules())
    zeros = total = 0
    for name in masks:
        rows = weight_rows(_base_layer(modules, name))
        zeros += int((rows == 0).sum())
        total += rows.numel()
    return zeros / total if total else 0.0
