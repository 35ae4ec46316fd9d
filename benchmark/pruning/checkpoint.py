"""``pruner=checkpoint`` (a network pruned by another method's code) and its random twin.

``pruner.path`` is either Torch-Pruning's structure-preserving state dict of the
configured model (``torch.save(tp.state_dict(model), path)``) or a plain state dict with
the pruned shapes, of the configured model or (``pruner.architecture._target_``) of a
constructor that builds the pruned architecture. The dense baseline stays what the cell
compares against. ``pruner=random pruner.widths_from=<file>`` removes random channels of
the dense baseline until every conv and linear has the checkpoint's width: the paper's
random baseline for any external method.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Tuple

import torch
import torch_pruning as tp
from torch import nn

from benchmark.errors import ConfigError
from benchmark.models.weights import mismatch, plain_state, read_file
from benchmark.pruning import structure
from benchmark.pruning.graph import ROOT_TYPES, example_input
from benchmark.pruning.spec import PruningSpec
from benchmark.sources import file_fingerprint, load_callable, source_fingerprint

WHAT = "pruner.path"
_NO_SHAPE = torch.empty(0)  # compare names only


def fingerprint(spec_path: str, architecture: Dict[str, Any], what: str = WHAT) -> Dict[str, Any]:
    """The file's SHA-256 (and the architecture constructor's source) for the pruned identity."""
    found: Dict[str, Any] = {"checkpoint": file_fingerprint(spec_path, what)}
    if architecture:
        found["architecture"] = source_fingerprint(_constructor(architecture), "pruner.architecture._target_")
    return found


def _constructor(node: Dict[str, Any]):
    if "_target_" not in node:
        raise ConfigError("pruner.architecture needs a _target_ naming the pruned model's constructor")
    return load_callable(node["_target_"], "pruner.architecture._target_")


def build_architecture(node: Dict[str, Any], device: torch.device) -> nn.Module:
    """The pruned architecture from its ``_target_`` node (``num_classes`` already in it)."""
    kwargs = {k: v for k, v in node.items() if k != "_target_"}
    try:
        model = _constructor(node)(**kwargs)
    except Exception as error:
        raise ConfigError(f"pruner.architecture._target_={node['_target_']!r} failed: {type(error).__name__}: "
                          f"{' '.join(str(error).split())[:160]}") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"pruner.architecture._target_={node['_target_']!r} did not return a torch.nn.Module")
    return model.to(device)


def load_pruned(dense: nn.Module, spec: PruningSpec, num_classes: int, image_size: int) -> Tuple[nn.Module, Dict]:
    """The checkpoint's network with its weights, and the history that rebuilds it."""
    if spec.rounds != 1:
        raise ConfigError("pruner=checkpoint retrains the checkpoint once: pruner.rounds must be 1")
    device = next(dense.parameters()).device
    if spec.architecture:
        node = {**spec.architecture, "num_classes": num_classes}
        model = build_architecture(node, device)
        state, _ = plain_state(read_file(spec.path, WHAT, model), spec.path, WHAT)
        history = {"filters": [], "masked": [], "architecture": node}
    else:
        model = copy.deepcopy(dense)
        state, attributes = plain_state(read_file(spec.path, WHAT, model), spec.path, WHAT)
        record = structure.from_state_dict(model, state)
        for name, values in attributes.items():  # Torch-Pruning's own record of the sizes wins
            kept = {a: (list(v) if isinstance(v, tuple) else v) for a, v in values.items() if a in structure.SIZE_ATTRIBUTES}
            record["attributes"].setdefault(name, {}).update(kept)
        names = [k[: -len("_orig")] if k.endswith("_orig") else k for k in state if not k.endswith("_mask")]
        keys = mismatch(dict.fromkeys(model.state_dict(), _NO_SHAPE), dict.fromkeys(names, _NO_SHAPE))
        if keys:
            raise ConfigError(f"{WHAT}={spec.path!r} does not fit {type(dense).__name__}: {keys}")
        try:
            structure.apply(model, record)
        except ConfigError as error:
            raise ConfigError(f"{WHAT}={spec.path!r} is not a checkpoint of {type(dense).__name__}: {error}") from None
        history = {"filters": [], "masked": [], "structure": record}
    problem = mismatch(model.state_dict(), state)
    if problem:
        raise ConfigError(f"{WHAT}={spec.path!r} does not fit {type(model).__name__}: {problem}")
    model.load_state_dict(state)
    _check_runs(model, image_size, num_classes)
    return model, history


def _check_runs(model: nn.Module, image_size: int, num_classes: int) -> None:
    model.eval()
    try:
        with torch.no_grad():
            out = model(example_input(model, image_size))
    except RuntimeError as error:
        raise ConfigError(f"{WHAT}: the pruned network does not run ({' '.join(str(error).split())[:160]})") from None
    if out.shape[-1] != num_classes:
        raise ConfigError(f"{WHAT}: the pruned network gives {out.shape[-1]} outputs, the dataset has {num_classes}")


def checkpoint_widths(dense: nn.Module, path: str, what: str = "pruner.widths_from") -> Dict[str, int]:
    """Output width of every conv and linear in a pruned checkpoint of ``dense``'s architecture."""
    state, _ = plain_state(read_file(path, what, dense), path, what)
    widths = {}
    for name, module in dense.named_modules():
        if isinstance(module, ROOT_TYPES):
            weight = state.get(f"{name}.weight", state.get(f"{name}.weight_orig"))
            if weight is None:
                raise ConfigError(f"{what}={path!r} has no weight for {name}: not a checkpoint of {type(dense).__name__}")
            widths[name] = int(weight.shape[0])
    return widths


def random_to_widths(model: nn.Module, widths: Dict[str, int], seed: int, image_size: int) -> List:
    """Remove random output channels (and everything coupled to them) until every layer has
    the given width; return Torch-Pruning's history."""
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example_input(model, image_size))
    modules = dict(model.named_modules())
    for name, width in widths.items():
        layer, pruner = modules[name], graph.get_pruner_of_module(modules[name])
        current = pruner.get_out_channels(layer)
        if width > current:
            raise ConfigError(f"pruner.widths_from: {name} has {width} outputs there, more than the dense {current}")
        if width < current:
            drop = torch.randperm(current, generator=generator)[: current - width].tolist()
            graph.get_pruning_group(layer, pruner.prune_out_channels, idxs=drop).prune()
    model.train(was_training)
    mismatched = [n for n, w in widths.items() if graph.get_pruner_of_module(modules[n]).get_out_channels(modules[n]) != w]
    if mismatched:
        raise ConfigError(f"pruner.widths_from: coupled layers cannot take the checkpoint's widths ({', '.join(mismatched[:3])})")
    return graph.pruning_history()
