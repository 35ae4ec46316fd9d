"""``pruner=custom``: a researcher's own pruning callable, run without touching the package.

Contract (docs/bring_your_own_method.md)::

    def my_pruner(model, example_inputs, batches, *, seed, **kwargs) -> None

``model`` is the trained dense network (in eval mode, on the cell's device),
``example_inputs`` one zero image batch of the dataset's size, ``batches()`` yields the
cell's training batches ``(images, labels)`` (``pruner.taylor_batches`` of them, in the
pruning seed's order), ``seed`` the pruning seed, and ``kwargs`` are ``pruner.kwargs``.
It prunes ``model`` in place: it may change the sizes of standard layers (through
Torch-Pruning or by hand) and/or attach ``torch.nn.utils.prune`` masks. The suite records
the result as plain data (:mod:`benchmark.pruning.structure`), checks at once that the
record rebuilds the same network from the dense one, and otherwise stops with one line.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, Callable, Dict, Optional

import torch
from torch import nn

from benchmark.errors import ConfigError
from benchmark.pruning import structure
from benchmark.pruning.counting import count_params
from benchmark.pruning.graph import Batches, example_input
from benchmark.pruning.spec import PruningSpec
from benchmark.sources import load_callable, source_fingerprint

WHAT = "pruner.function"


def load(function: Optional[str]) -> Callable:
    """The user's callable, checked against the contract's signature."""
    if not function:
        raise ConfigError(f"{WHAT} must name module:callable for pruner=custom")
    return load_callable(function, WHAT)


def check_signature(fn: Callable, function: str, kwargs: Dict[str, Any]) -> None:
    try:
        inspect.signature(fn).bind(None, None, None, seed=0, **kwargs)
    except TypeError as error:
        raise ConfigError(f"{WHAT}={function!r} cannot be called as fn(model, example_inputs, batches, seed=..., "
                          f"**pruner.kwargs): {error}") from None
    except ValueError:  # no signature to inspect (a C callable): find out when it runs
        pass


def fingerprint(function: str, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """What of the callable enters the pruned-model identity: its name and source file's SHA-256."""
    fn = load(function)
    check_signature(fn, function, kwargs)
    return {"custom_pruner": source_fingerprint(fn, WHAT)}


def _masked_zeros(model: nn.Module) -> int:
    return sum(int((b == 0).sum()) for name, b in model.named_buffers() if name.endswith("_mask"))


def run(model: nn.Module, spec: PruningSpec, seed: int, batches: Optional[Batches], image_size: int,
        previous: Optional[structure.Structure] = None) -> structure.Structure:
    """Call the user's pruner on ``model`` in place; return the structure record to save."""
    fn = load(spec.function)
    check_signature(fn, spec.function, spec.kwargs)
    reference = copy.deepcopy(model)  # the model as the record will be replayed on
    before_layout, before_attributes = structure.layout(model), structure.attributes(model)
    params, zeros = count_params(model), _masked_zeros(model)
    x = example_input(model, image_size)
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            fn(model, x, batches if batches is not None else (lambda: iter(())), seed=seed, **spec.kwargs)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(f"{WHAT}={spec.function!r} raised {type(error).__name__}: "
                          f"{' '.join(str(error).split())[:200]}") from None
    model.zero_grad(set_to_none=True)
    try:
        new = _checked(reference, model, before_layout, before_attributes, params, zeros, x)
    except ConfigError as error:
        raise ConfigError(f"{WHAT}={spec.function!r}: {error}") from None
    return structure.compose(previous, new) if previous else new


def _checked(reference: nn.Module, model: nn.Module, before_layout: Dict[str, str], before_attributes: Dict[str, Any],
             params: int, zeros: int, x: torch.Tensor) -> structure.Structure:
    """The structure record of the pruned ``model``, once it is known to be a real, reloadable pruning."""
    new = structure.record(model, before_layout, before_attributes)
    empty = next((k for k, s in new["shapes"].items() if 0 in s), None)
    if empty is not None:
        raise ConfigError(f"it removed every channel of {empty}: a layer must keep one")
    if count_params(model) == params and _masked_zeros(model) == zeros:
        raise ConfigError("it pruned nothing: no channel removed and no weight masked")
    probe = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)).to(x.device)
    _check_reload(reference, model, new, probe)
    return new


def _check_reload(reference: nn.Module, model: nn.Module, record: structure.Structure, x: torch.Tensor) -> None:
    """The record must rebuild the pruned network exactly, or nothing is cached or retrained."""
    problem = None
    try:
        rebuilt = structure.apply(reference, record)
        rebuilt.load_state_dict(model.state_dict())
        rebuilt.eval()
        model.eval()
        with torch.no_grad():
            if not torch.allclose(rebuilt(x), model(x), atol=1e-5, rtol=1e-4):
                problem = "the rebuilt network computes something else"
    except ConfigError as error:
        problem = str(error)
    except Exception as error:
        problem = f"{type(error).__name__}: {' '.join(str(error).split())[:160]}"
    if problem:
        raise ConfigError(f"its result cannot be saved and reloaded without pickling ({problem}); "
                          "change only the sizes of standard layers or use torch.nn.utils.prune")
