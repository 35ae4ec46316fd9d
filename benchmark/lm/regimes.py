"""The retraining regimes: which parameters retraining updates (``retrain.params``).

- ``all``: every parameter (the vision suite's retraining).
- ``biases_norms``: only biases and normalisation weights (Zimmer et al. 2023, "PERP"): a tiny
  fraction of the parameters, which their experiments find recovers most of one-shot pruning's loss.
- ``lora``: low-rank adapters through ``peft`` (rank, alpha, targets), the base frozen. With
  ``retrain.lora.masked`` (PERP's MaskLoRA) every forward uses (W + s BA) * M, so training sees
  exactly the merged model; otherwise the update is unmasked while training and the mask is applied
  when merging (which then changes the function: the naive merge PERP contrasts).

In every regime the pruned weights stay exactly zero: after each optimizer step they are zeroed
again (:func:`benchmark.lm.prune.apply_masks`), and a LoRA model is merged and masked before it
is evaluated and stored.
"""

from __future__ import annotations

import types
from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.lm import require
from benchmark.lm.prune import _transposed, apply_masks
from benchmark.lm.schema import RetrainConf

REGIMES = ("all", "biases_norms", "lora")


def _is_norm(module: nn.Module) -> bool:
    """LayerNorm, RMSNorm and the models' own norm classes (LlamaRMSNorm, ...), by name."""
    return isinstance(module, (nn.LayerNorm, nn.GroupNorm)) or "norm" in type(module).__name__.lower()


def biases_and_norms(model: nn.Module) -> List[str]:
    """Names of the biases and normalisation parameters."""
    names = []
    for mname, module in model.named_modules():
        for pname, _ in module.named_parameters(recurse=False):
            if pname == "bias" or _is_norm(module):
                names.append(f"{mname}.{pname}" if mname else pname)
    return names


def prepare(model: nn.Module, retrain: RetrainConf, masks: Dict[str, torch.Tensor]) -> nn.Module:
    """The model to retrain, with only the regime's parameters requiring gradients."""
    if retrain.params == "all":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    if retrain.params == "biases_norms":
        chosen = set(biases_and_norms(model))
        for name, p in model.named_parameters():
            p.requires_grad_(name in chosen)
        return model
    return _with_lora(model, retrain, masks)


def _with_lora(model: nn.Module, retrain: RetrainConf, masks: Dict[str, torch.Tensor]) -> nn.Module:
    peft = require("peft", "retrain.params=lora")
    lora = retrain.lora
    targets = lora.targets[0] if list(lora.targets) == ["all-linear"] else list(lora.targets)
    config = peft.LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                             bias="none", task_type="CAUSAL_LM")
    wrapped = peft.get_peft_model(model, config)
    if lora.masked:
        _mask_adapters(wrapped, masks)
    return wrapped


def _mask_adapters(wrapped: nn.Module, masks: Dict[str, torch.Tensor]) -> None:
    """MaskLoRA: each adapted pruned layer computes x ((W + s BA) * M)^T + b in its forward."""
    from peft.tuners.lora import LoraLayer

    for name, module in wrapped.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        key = next((k for k in masks if name.endswith("." + k) or name == k), None)
        if key is None:
            continue
        keep = masks[key]
        module.register_buffer("prune_mask", (keep.t() if _transposed(module.base_layer) else keep).clone(), persistent=False)
        module.forward = types.MethodType(_masked_forward, module)


def _masked_forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    base = self.base_layer
    weight = base.weight
    for adapter in self.active_adapters:
        if adapter in self.lora_A:
            weight = weight + self.get_delta_weight(adapter)
    weight = weight * self.prune_mask.to(weight.dtype)
    if _transposed(base):  # Conv1D: x @ W + b
        return torch.addmm(base.bias, x.reshape(-1, x.shape[-1]), weight).view(*x.shape[:-1], -1)
    return F.linear(x, weight, base.bias)


def trainable(model: nn.Module) -> List[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def finish(model: nn.Module, retrain: RetrainConf, masks: Dict[str, torch.Tensor]) -> nn.Module:
    """The plain model after retraining: LoRA merged into the weights, then the mask applied."""
    if retrain.params == "lora":
        model = model.merge_and_unload()
    apply_masks(model, masks)
    for p in model.parameters():
        p.requires_grad_(True)
    return model
