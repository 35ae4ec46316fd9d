"""Recorded widths: a pruned architecture as plain data, replayed on the dense model.

Pruning done outside the suite's own pruners (a user's callable, a checkpoint from another
method's code) cannot be replayed from a Torch-Pruning history. Instead the suite records
what changed: the shape of every parameter and buffer, the size attributes of the layers
that changed (``out_channels``, ``in_features``, ``num_features``, ``groups``, ...), and
which parameters carry a ``torch.nn.utils.prune`` mask. :func:`apply` gives the dense
model those shapes, attributes and masks, so the saved (plain) state dict loads into it:
nothing is pickled. The record holds only ints, strings and lists (``weights_only`` loads).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from benchmark.errors import ConfigError

# The attributes by which standard layers know their own sizes.
SIZE_ATTRIBUTES = ("in_channels", "out_channels", "groups", "in_features", "out_features", "num_features",
                   "normalized_shape", "num_channels", "num_groups", "embed_dim", "num_heads", "head_dim")
Structure = Dict[str, Any]


def attributes(model: nn.Module) -> Dict[str, Dict[str, Any]]:
    """Each module's size attributes (ints and tuples of ints), by module name."""
    found = {}
    for name, module in model.named_modules():
        values = {a: getattr(module, a) for a in SIZE_ATTRIBUTES if isinstance(getattr(module, a, None), (int, tuple))}
        if values:
            found[name] = {a: list(v) if isinstance(v, tuple) else v for a, v in values.items()}
    return found


def layout(model: nn.Module) -> Dict[str, str]:
    """Module name -> class name: what a pruner must not add, remove or replace."""
    return {name: type(module).__name__ for name, module in model.named_modules()}


def masks(model: nn.Module) -> List[str]:
    """``module.param`` for every parameter under a ``torch.nn.utils.prune`` mask."""
    return sorted(f"{name}.{hook._tensor_name}" if name else hook._tensor_name
                  for name, module in model.named_modules() for hook in module._forward_pre_hooks.values()
                  if isinstance(hook, torch_prune.BasePruningMethod))


def _base_key(key: str) -> str:
    return key[: -len("_orig")] if key.endswith("_orig") else key


def record(model: nn.Module, before_layout: Mapping[str, str], before_attributes: Mapping[str, Any]) -> Structure:
    """The structure of ``model`` relative to what it was (``layout`` / ``attributes`` taken before)."""
    now = layout(model)
    removed = [n for n in before_layout if n not in now or now[n] != before_layout[n]]
    added = [n for n in now if n not in before_layout]
    if removed or added:
        names = ", ".join((removed + added)[:3])
        raise ConfigError(f"the pruner removed, added or replaced layers ({names}); prune channels or weights, "
                          "keep every layer")
    changed = {name: {a: v for a, v in values.items() if before_attributes.get(name, {}).get(a) != v}
               for name, values in attributes(model).items()}
    shapes = {_base_key(k): list(v.shape) for k, v in model.state_dict().items() if not k.endswith("_mask")}
    return {"shapes": shapes, "attributes": {n: v for n, v in changed.items() if v}, "masks": masks(model)}


def compose(previous: Structure, new: Structure) -> Structure:
    """Two rounds as one record: the later shapes and attributes, every mask of either."""
    merged = {n: dict(v) for n, v in previous.get("attributes", {}).items()}
    for name, values in new["attributes"].items():
        merged.setdefault(name, {}).update(values)
    return {"shapes": new["shapes"], "attributes": merged, "masks": sorted(set(previous.get("masks", [])) | set(new["masks"]))}


def _owner(model: nn.Module, key: str) -> Tuple[nn.Module, str]:
    module_name, _, attr = key.rpartition(".")
    return (model.get_submodule(module_name) if module_name else model), attr


def apply(model: nn.Module, structure: Structure) -> nn.Module:
    """Give the dense ``model`` the recorded shapes, size attributes and mask buffers."""
    modules = dict(model.named_modules())
    for name, values in structure["attributes"].items():
        for attr, value in values.items():
            setattr(modules[name], attr, tuple(value) if isinstance(getattr(modules[name], attr), tuple) else value)
    state = model.state_dict()
    for key, shape in structure["shapes"].items():
        if key not in state:
            raise ConfigError(f"recorded structure names {key!r}, which {type(model).__name__} does not have")
        if list(state[key].shape) == list(shape):
            continue
        owner, attr = _owner(model, key)
        old = getattr(owner, attr)
        new = torch.empty(shape, dtype=old.dtype, device=old.device)
        if isinstance(old, nn.Parameter):
            setattr(owner, attr, nn.Parameter(new, requires_grad=old.requires_grad))
        else:
            owner.register_buffer(attr, new)
    for key in structure["masks"]:
        owner, attr = _owner(model, key)
        if not torch_prune.is_pruned(owner) or not hasattr(owner, attr + "_mask"):
            torch_prune.identity(owner, attr)
    return model


def from_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> Structure:
    """The structure a state dict of ``model``'s layers implies: shapes from its tensors, the
    size attributes of convs, linears and norms from their weights (a pruned checkpoint)."""
    attrs: Dict[str, Dict[str, Any]] = {}
    for name, module in model.named_modules():
        weight = state.get(f"{name}.weight" if name else "weight")
        if weight is None:
            continue
        if isinstance(module, nn.modules.conv._ConvNd):
            attrs[name] = {"out_channels": int(weight.shape[0]), "in_channels": int(weight.shape[1]) * module.groups}
        elif isinstance(module, nn.Linear):
            attrs[name] = {"out_features": int(weight.shape[0]), "in_features": int(weight.shape[1])}
        elif isinstance(module, nn.modules.batchnorm._NormBase):
            attrs[name] = {"num_features": int(weight.shape[0])}
        elif isinstance(module, nn.LayerNorm):
            attrs[name] = {"normalized_shape": list(weight.shape)}
    shapes = {_base_key(k): list(v.shape) for k, v in state.items() if not k.endswith("_mask")}
    masked = sorted(k[: -len("_mask")] for k in state if k.endswith("_mask"))
    return {"shapes": shapes, "attributes": attrs, "masks": masked}
