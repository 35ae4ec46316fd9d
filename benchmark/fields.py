"""What every config schema is built from: declared ranges, and the bases of the shared groups.

A value's range lives on its schema field (:func:`ranged`), and nowhere else: the one validation
phase (:mod:`benchmark.validation`) walks every field's :class:`Domain` before any training. The
dataset, model and pruner groups each have one base here holding only what every task reads
(``benchmark.schema.BenchmarkConf``'s fields are typed by it); each task's schemas derive from the
base alone and live with their code (``benchmark/data/schema.py``, ``benchmark/lm/schema.py``, ...),
so an image schema and a language-model schema share no field the other task would ignore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Tuple

from omegaconf import MISSING


@dataclass(frozen=True)
class Domain:
    """The values a setting may take, read by ``benchmark.validation`` before any training.
    A bound is a number or the dotted key of another value (``recipe.epochs``, or a derived
    one: ``T`` the retraining budget, ``data.train_images``, ``data.train_after_val``); a list
    setting is checked element by element (``increasing``: strictly, in order)."""

    low: Any = None
    high: Any = None
    low_open: bool = False
    high_open: bool = False
    choices: Tuple[str, ...] = ()
    increasing: bool = False



def ranged(default: Any = MISSING, *, factory: Any = None, **domain: Any) -> Any:
    """A dataclass field carrying its :class:`Domain` in the field's metadata."""
    meta = {"domain": Domain(**domain)}
    return field(default_factory=factory, metadata=meta) if factory is not None else field(default=default, metadata=meta)


POSITIVE = {"low": 0, "low_open": True}
FRACTION = {"low": 0, "high": 1, "high_open": True}  # [0, 1)
OPEN_UNIT = {"low": 0, "high": 1, "low_open": True, "high_open": True}  # (0, 1)
SEED = {"low": 0, "high": 2**63 - 1}


@dataclass
class DatasetGroup:
    """What every task's data has: its name (the dataset registry's, or text)."""

    name: str = MISSING


@dataclass
class ModelGroup:
    """What every task's model has: a name, and whether its weights are released ones."""

    name: str = MISSING
    pretrained: bool = False  # torchvision ResNets: torchvision's ImageNet weights | causal LMs: model.name's weights


@dataclass
class PrunerGroup:
    """What every task's pruner has: a name, a sparsity and how many prune-then-retrain rounds."""

    name: str = MISSING
    sparsity: float = ranged(0.0, **FRACTION)  # unstructured: fraction of the weights zeroed (image: of remaining conv weights, per round)
    rounds: int = ranged(1, low=1)  # iterative pruning: rounds of prune-then-retrain, each of T epochs

