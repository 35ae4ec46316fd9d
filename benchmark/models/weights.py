"""Loading a state dict a user brings: released dense weights (``model.weights``) or a
pruned checkpoint (``pruner=checkpoint``), with one-line errors for what does not fit.

Files are read with ``torch.load(weights_only=True)``; the classes of the configured model
are allow-listed so Torch-Pruning's structure-preserving state dict (``tp.state_dict``),
which stores module objects, loads without unpickling anything else.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

import torch
from torch import nn

from benchmark.errors import ConfigError

State = Dict[str, torch.Tensor]


def read_file(path: str, what: str, model: nn.Module) -> Any:
    """The object in a torch file; unreadable, truncated or foreign files are one line."""
    try:
        with torch.serialization.safe_globals(sorted({type(m) for m in model.modules()}, key=str)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"{what}={path!r} does not exist") from None
    except Exception as error:
        reason = " ".join(str(error).split())[:160]
        raise ConfigError(f"{what}={path!r} is not a readable torch checkpoint ({type(error).__name__}: {reason})") from None


def plain_state(obj: Any, path: str, what: str) -> Tuple[State, Dict[str, Dict[str, Any]]]:
    """A flat state dict and any size attributes the file records, from a plain state dict,
    ``{"state_dict": ...}`` or Torch-Pruning's ``{"full_state_dict", "attributions"}``."""
    attributes: Dict[str, Dict[str, Any]] = {}
    if isinstance(obj, Mapping) and "full_state_dict" in obj and "attributions" in obj:
        state: State = {}
        for name, fields in obj["full_state_dict"].items():
            for group in ("_parameters", "_buffers"):
                for key, tensor in (fields.get(group) or {}).items():
                    if tensor is not None and key not in fields.get("_non_persistent_buffers_set", ()):
                        state[f"{name}.{key}" if name else key] = tensor.detach()
        attributes = {n: dict(a) for n, a in obj["attributions"].items()}
        return state, attributes
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(f"{what}={path!r} holds no state dict (a mapping of names to tensors)")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):  # saved from DataParallel / DDP
        state = {k[len("module."):]: v for k, v in state.items()}
    return state, attributes


def mismatch(expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]) -> str:
    """'' when the keys and shapes agree; else what differs, the first few of each kind."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [f"{k} {tuple(given[k].shape)} vs {tuple(expected[k].shape)}" for k in expected
              if k in given and tuple(given[k].shape) != tuple(expected[k].shape)]
    parts = [f"{label} {', '.join(items[:3])}" + (f" (+{len(items) - 3} more)" if len(items) > 3 else "")
             for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)) if items]
    return "; ".join(parts)


def load_weights(model: nn.Module, path: str, what: str = "model.weights") -> nn.Module:
    """Load a dense state dict into ``model`` exactly (every key, every shape) or fail in one line."""
    state, _ = plain_state(read_file(path, what, model), path, what)
    problem = mismatch(model.state_dict(), state)
    if problem:
        raise ConfigError(f"{what}={path!r} does not fit {type(model).__name__}: {problem}")
    model.load_state_dict(state)
    return model
