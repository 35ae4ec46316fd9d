"""Generic structural pruning of any model over Torch-Pruning's dependency graph.

:func:`prune_graph` is the one entry point: it removes channels from every coupled
group of convs, linears and norms with Torch-Pruning's own ``BasePruner`` and returns
Torch-Pruning's pruning history, which :func:`benchmark.pruning.rebuild` replays on the
dense model (no module is ever pickled). It works for models that list no
``prunable_convs``, which is what ``pruner=torch_pruning`` and the ``l1`` / ``random`` /
``taylor`` fallbacks use.

Two things the library leaves to its caller are done here:

* **The classifier is always protected**: the layer whose output is the model's output
  (or, failing that, the last conv/linear to run) keeps its output units.
* **Untraceable channel maps are protected**: the CIFAR ResNets' option-A shortcuts
  (``F.pad`` on the channel dimension) reach the graph as element-wise ops, so
  Torch-Pruning couples a 16-channel residual stream index-for-index with a 32-channel
  one and prunes them inconsistently (ResNet-20 at 0.3 ends with 59 channels in front
  of a classifier expecting 44). Every group that passes through a pad, or whose members
  disagree on the channel count, is left whole: for those ResNets, the convs writing the
  residual stream (the stem and every block's second conv) keep their width, as in PFEC.

A result that does not produce the dense output shape is a one-line error, never a
silently broken model.
"""

from __future__ import annotations

from typing import Callable, Iterable, List, Optional, Sequence, Set, Tuple

import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from benchmark.errors import ConfigError

Batches = Callable[[], Iterable[Tuple[torch.Tensor, torch.Tensor]]]
History = List
ROOT_TYPES = (nn.modules.conv._ConvNd, nn.Linear)
# Element-wise ops in Torch-Pruning's trace that may change the channel count unseen.
_CHANNEL_CHANGING_OPS = ("ConstantPadNd", "ReflectionPad", "ReplicationPad")

__all__ = ["prune_graph", "classifier", "unsafe_layers", "needs_batches", "replay_history", "example_input"]


def example_input(model: nn.Module, image_size: int = 32, channels: int = 3) -> torch.Tensor:
    """One zero image on the model's device: what the graph is traced with."""
    device = next(model.parameters()).device
    return torch.zeros(1, channels, image_size, image_size, device=device)


def classifier(model: nn.Module, example_inputs: torch.Tensor) -> nn.Module:
    """The layer that produces the logits: the conv/linear whose output is the model's output,
    else the last one to run in a forward pass."""
    order: List[Tuple[nn.Module, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append((m, o)))
             for m in model.modules() if isinstance(m, ROOT_TYPES)]
    try:
        with torch.no_grad():
            out = model(example_inputs)
    finally:
        for h in hooks:
            h.remove()
    if not order:
        raise ConfigError(f"{type(model).__name__} has no conv or linear layer to prune")
    return next((m for m, o in reversed(order) if o is out), order[-1][0])


def _channels(graph: tp.DependencyGraph, dep) -> Optional[int]:
    module = dep.target.module
    if not isinstance(module, nn.Module):
        return None
    pruner = graph.get_pruner_of_module(module)
    if pruner is None:
        return None
    if graph.is_out_channel_pruning_fn(dep.handler):
        return pruner.get_out_channels(module)
    return pruner.get_in_channels(module)


def _group_unsafe(graph: tp.DependencyGraph, group) -> bool:
    counts, padded = set(), False
    for dep, _ in group:
        name = type(dep.target.module).__name__ + str(getattr(dep.target.module, "_grad_fn", ""))
        padded |= any(op in str(dep.target) or op in name for op in _CHANNEL_CHANGING_OPS)
        n = _channels(graph, dep)
        if n is not None and not isinstance(dep.target.module, nn.Linear):  # flatten may widen a linear's input
            counts.add(n)
    return padded or len(counts) > 1


def unsafe_layers(graph: tp.DependencyGraph) -> Set[nn.Module]:
    """Convs/linears whose output group the graph cannot prune consistently (see the module doc)."""
    unsafe: Set[nn.Module] = set()
    for module in graph.module2node:
        if not isinstance(module, ROOT_TYPES) or module in unsafe:
            continue
        pruner = graph.get_pruner_of_module(module)
        if pruner is None or pruner.get_out_channels(module) is None:
            continue
        group = graph.get_pruning_group(module, pruner.prune_out_channels, [0])
        if _group_unsafe(graph, group):
            unsafe |= {dep.target.module for dep, _ in group
                       if isinstance(dep.target.module, ROOT_TYPES) and graph.is_out_channel_pruning_fn(dep.handler)}
    return unsafe


def needs_batches(importance: Callable) -> bool:
    """Whether an importance reads gradients or activations, so needs training batches."""
    return isinstance(importance, (tp.importance.GroupTaylorImportance, tp.importance.GroupHessianImportance,
                                   tp.importance.ActivationImportance))


def _feed(model: nn.Module, importance: Callable, batches: Batches) -> None:
    """Give a data-driven importance what it reads, with BN in eval mode so its running
    statistics stay untouched: summed gradients (Taylor), mean squared per-sample gradients
    (Hessian / OBD, written to ``.grad`` where the library reads them: its own
    ``accumulate_grad`` keeps only the last sample in 1.6), or activations."""
    model.eval()
    model.zero_grad(set_to_none=True)
    if isinstance(importance, tp.importance.ActivationImportance):
        with torch.no_grad(), importance.compute_importance(model):
            for images, _ in batches():
                model(images)
        return
    hessian = isinstance(importance, tp.importance.GroupHessianImportance)
    squares, samples = {}, 0
    for images, labels in batches():
        if not hessian:
            F.cross_entropy(model(images), labels).backward()
            continue
        for i in range(len(images)):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(images[i:i + 1]), labels[i:i + 1]).backward()
            for p in model.parameters():
                if p.grad is not None:
                    squares[p] = squares.get(p, 0) + p.grad.detach().pow(2)
            samples += 1
    if hessian:
        for p in model.parameters():
            p.grad = squares[p] / samples if p in squares else None


def prune_graph(model: nn.Module, *, importance: Callable, ratio: float, example_inputs: torch.Tensor,
                global_pruning: bool = False, round_to: int = 1, ignored_layers: Sequence[nn.Module] = (),
                batches: Optional[Batches] = None, seed: int = 0, max_pruning_ratio: float = 1.0) -> History:
    """Remove ``ratio`` of the channels of every prunable group in place (per group, or
    ranked across groups with ``global_pruning``); return Torch-Pruning's history.

    ``importance`` is any ``torch_pruning.importance`` criterion (or callable on a group);
    gradient and activation criteria are fed ``batches()`` first. The classifier, the
    ``ignored_layers`` and groups the graph cannot follow keep their output width.
    ``seed`` seeds random importances. Raises ``ConfigError`` when nothing can be pruned
    or the result would not produce the dense output shape."""
    if not 0.0 <= ratio < 1.0:
        raise ConfigError(f"pruning ratio {ratio} must lie in [0, 1)")
    was_training = model.training
    model.eval()  # tracing forwards the example: keep BN running statistics untouched
    with torch.no_grad():
        dense_shape = model(example_inputs).shape
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs)
    protected = {classifier(model, example_inputs), *unsafe_layers(graph), *ignored_layers}
    if not any(True for _ in graph.get_all_groups(ignored_layers=list(protected), root_module_types=ROOT_TYPES)):
        raise ConfigError(f"{type(model).__name__} has no prunable group once the classifier and the layers "
                          "the dependency graph cannot follow are protected")
    if needs_batches(importance):
        if batches is None:
            raise ConfigError(f"importance {type(importance).__name__} needs training batches")
        _feed(model, importance, batches)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # RandomImportance draws from the global generator
        pruner = tp.pruner.BasePruner(model, example_inputs, importance=importance, pruning_ratio=ratio,
                                      global_pruning=global_pruning, round_to=round_to if round_to > 1 else None,
                                      ignored_layers=sorted(protected, key=id), max_pruning_ratio=max_pruning_ratio,
                                      root_module_types=list(ROOT_TYPES))
        pruner.step()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    _check_output(model, example_inputs, dense_shape)
    return [list(entry) for entry in pruner.pruning_history()]


def _check_output(model: nn.Module, example_inputs: torch.Tensor, dense_shape: torch.Size) -> None:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            shape = model(example_inputs).shape
    except RuntimeError as error:
        raise ConfigError(f"graph pruning left {type(model).__name__} unable to run: {str(error).splitlines()[0]}")
    finally:
        model.train(was_training)
    if shape != dense_shape:
        raise ConfigError(f"graph pruning changed the output of {type(model).__name__} from {tuple(dense_shape)} "
                          f"to {tuple(shape)}")


def replay_history(model: nn.Module, history: History, example_inputs: torch.Tensor) -> nn.Module:
    """The pruned architecture from the dense model and a Torch-Pruning history."""
    if history:
        was_training = model.training
        model.eval()
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs)
        graph.load_pruning_history(history)
        model.train(was_training)
    return model
