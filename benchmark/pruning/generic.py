"""``pruner=torch_pruning`` and the graph fallback of ``l1`` / ``random`` / ``taylor``.

The importance is a Hydra ``_target_`` node naming any Torch-Pruning criterion
(``pruner.importance._target_=torch_pruning.importance.LAMPImportance``, keyword
arguments beside it), built with ``hydra.utils.instantiate``. Models that list no
``prunable_convs`` are pruned by the suite's own criteria through the same graph:
L1 as the group L1 norm, random, and first-order Taylor. Either way the pruning itself
is :func:`benchmark.pruning.graph.prune_graph`.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import hydra.utils
from omegaconf import OmegaConf
from torch import nn

from benchmark.errors import ConfigError
from benchmark.pruning.graph import Batches, example_input, needs_batches, prune_graph
from benchmark.pruning.spec import PruningSpec

_IMPORTANCE = "torch_pruning.importance."
# The built-in criteria, as Torch-Pruning importances, for models without prunable_convs.
FALLBACK: Dict[str, Dict[str, Any]] = {
    "l1": {"_target_": _IMPORTANCE + "MagnitudeImportance", "p": 1},
    "random": {"_target_": _IMPORTANCE + "RandomImportance"},
    "taylor": {"_target_": _IMPORTANCE + "TaylorImportance"},
}
# Plan mode and target matching: a data-free stand-in (uniform widths do not depend on it).
STAND_IN = FALLBACK["l1"]


def importance_node(spec: PruningSpec) -> Dict[str, Any]:
    """The importance ``_target_`` node this spec prunes with."""
    return spec.importance if spec.graph else FALLBACK[spec.name]


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())[:240]


def build_importance(node: Dict[str, Any]) -> Callable:
    """``hydra.utils.instantiate`` of the node; a bad target or argument is one line."""
    target = node.get("_target_")
    try:
        importance = hydra.utils.instantiate(OmegaConf.create(node))
    except Exception as error:  # Hydra wraps import and argument errors alike
        cause = error.__cause__ or error
        raise ConfigError(f"pruner.importance._target_={target!r} cannot be built: {_one_line(cause)}") from None
    if not callable(importance):
        raise ConfigError(f"pruner.importance._target_={target!r} is not a callable importance")
    return importance


def prune_by_graph(model: nn.Module, spec: PruningSpec, seed: int, batches: Optional[Batches],
                   criterion: Optional[str], image_size: int) -> List:
    """One round of graph pruning; ``criterion`` (plan mode, target matching) swaps a
    data-driven importance for the magnitude stand-in."""
    importance = build_importance(importance_node(spec))
    if criterion is not None and needs_batches(importance):
        importance = build_importance(STAND_IN)
    skipped = [conv for layer_id, _, conv in model.prunable_convs() if layer_id in spec.skip_layers] \
        if spec.skip_layers else []
    try:
        return prune_graph(model, importance=importance, ratio=spec.ratio, example_inputs=example_input(model, image_size),
                           global_pruning=spec.global_pruning, round_to=spec.round_to, batches=batches, seed=seed,
                           ignored_layers=skipped)
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as error:
        node = importance_node(spec)
        raise ConfigError(f"pruning {type(model).__name__} with {node['_target_']} failed: {_one_line(error)}") from None


def data_dependent(spec: PruningSpec) -> bool:
    """Whether the widths depend on data (global ranking by a gradient/activation criterion)."""
    return spec.global_pruning and needs_batches(build_importance(importance_node(spec)))
