"""The image pruners' schemas (``conf/pruner/``), and the latency protocol of pruned models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING

from benchmark.fields import FRACTION, OPEN_UNIT, PrunerGroup, ranged


@dataclass
class PrunerConf(PrunerGroup):
    """Which filters to remove. ``none`` leaves the baseline whole."""

    name: str = MISSING  # none | l1 | random | taylor | mwp | random_unstructured | agp | nm | torch_pruning | custom | checkpoint
    variant: Optional[str] = None  # a paper variant of the model (benchmark/pruning/variants.yaml)
    ratio: float = ranged(0.0, **FRACTION)  # uniform fraction of filters removed from every prunable layer
    stage_ratios: Optional[List[float]] = ranged(None, **FRACTION)  # per-stage ratios (ResNets), overriding ratio
    skip_layers: List[int] = ranged(factory=list, low=1)  # conv ids (stem = 1) left whole
    taylor_batches: int = ranged(10, low=1)  # training batches that Taylor-FO-BN scores accumulate over
    round_to: int = ranged(1, low=1)  # keep a multiple of this many filters per layer (8: hardware-friendly)
    target_reduction: Optional[float] = ranged(None, **OPEN_UNIT)  # find the uniform ratio reaching this reduction
    target_metric: str = ranged("params", choices=("params", "flops"))  # params | flops: what target_reduction measures
    widths_from: Optional[str] = None  # random: the per-layer widths of this pruned checkpoint


@dataclass
class WeightPrunerConf(PrunerConf):
    """Unstructured weight pruning (mwp, random_unstructured): how the sparsity is shared among layers."""

    allocation: str = ranged("global", choices=("global", "uniform", "erk", "lamp"))  # benchmark/pruning/allocation.py
    first_layer: str = ranged("auto", choices=("auto", "dense", "sparse"))  # auto: dense under uniform (Evci et al.)
    classifier: str = ranged("dense", choices=("dense", "sparse"))  # sparse: mask the last linear layer too


@dataclass
class GradualPrunerConf(WeightPrunerConf):
    """AGP (Zhu & Gupta 2017): sparsity rising from initial_sparsity to sparsity while retraining."""

    name: str = "agp"
    sparsity: float = ranged(0.9, **OPEN_UNIT)  # s_f, reached at step end x (retraining steps)
    initial_sparsity: float = ranged(0.0, **FRACTION)  # s_i, applied when retraining starts
    start: float = ranged(0.0, **FRACTION)  # t_0 as a fraction of the retraining steps
    end: float = ranged(0.75, low=0, high=1, low_open=True)  # t_0 + n dt as a fraction of the retraining steps
    frequency: int = ranged(100, low=1)  # dt: steps between mask updates


@dataclass
class NMPrunerConf(PrunerConf):
    """N:M semi-structured sparsity: at most n nonzero weights in every m consecutive input channels."""

    name: str = "nm"
    n: int = ranged(2, low=1)
    m: int = ranged(4, low=2)
    classifier: str = ranged("dense", choices=("dense", "sparse"))  # sparse: the last linear layer too


@dataclass
class TorchPruningConf(PrunerConf):
    """Any Torch-Pruning importance through its own pruner over the dependency graph."""

    name: str = "torch_pruning"
    ratio: float = ranged(0.5, **FRACTION)
    # A ``_target_`` node: torch_pruning.importance.<Class> plus its keyword arguments.
    importance: Dict[str, Any] = field(
        default_factory=lambda: {"_target_": "torch_pruning.importance.MagnitudeImportance"})
    global_pruning: bool = False  # rank channels across all groups instead of pruning each by ratio


@dataclass
class CustomPrunerConf(PrunerConf):
    """A user's callable ``fn(model, example_inputs, batches, seed=..., **kwargs)`` (pruning/custom.py)."""

    name: str = "custom"
    function: str = MISSING  # module:callable, importable from the working directory or PYTHONPATH
    kwargs: Dict[str, Any] = field(default_factory=dict)  # passed to the callable; part of the identity


@dataclass
class CheckpointPrunerConf(PrunerConf):
    """A network pruned by another method's code, retrained from its file (pruning/checkpoint.py)."""

    name: str = "checkpoint"
    path: str = MISSING  # tp.state_dict of the configured model, or a plain state dict; its SHA-256 is identity
    # A _target_ node building the pruned model, for a plain state dict of another constructor ({}: none).
    architecture: Dict[str, Any] = field(default_factory=dict)


@dataclass
class LatencyConf:
    """Fixed protocol for the forward latency of dense and pruned models (eval, no grad)."""

    batch: int = ranged(64, low=1)
    warmup: int = ranged(3, low=0)
    repeats: int = ranged(10, low=0)  # 0 disables the measurement

