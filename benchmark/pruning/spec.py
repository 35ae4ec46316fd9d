"""The pruning plan: one resolved description of what a pruner removes from a model.

A pruner config (``conf/pruner/*.yaml``) may name a paper variant, a uniform ratio,
per-stage ratios with a skip list, explicit widths, or a sparsity. ``resolve`` turns it,
for one model, into a :class:`PruningSpec`, and ``validate`` rejects, in one line and
before any training, what the model cannot take.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import DictConfig, OmegaConf

from benchmark.errors import ConfigError
from benchmark.pruning.schema import PrunerConf

# The pruner registry: name -> kind. Structured pruners remove filters of the convs a model
# lists (their scores are ``benchmark.pruning.structured.SCORES``, with the dependency-graph
# fallback of ``benchmark.pruning.graph`` for other models); ``graph`` prunes through any
# Torch-Pruning importance (``pruning/graph.py``); unstructured ones attach masks
# (``benchmark.pruning.unstructured.METHODS``); ``external`` ones take a user's callable or a
# checkpoint pruned elsewhere (``pruning/external.py``); ``none`` keeps the baseline whole.
PRUNERS: Dict[str, str] = {
    "none": "none",
    "l1": "structured",
    "random": "structured",
    "taylor": "structured",
    "mwp": "unstructured",
    "random_unstructured": "unstructured",
    "agp": "unstructured",  # gradual: masks grow while retraining (pruning/gradual.py)
    "nm": "semi_structured",  # N:M masks (pruning/nm.py)
    "torch_pruning": "graph",
    "custom": "external",
    "checkpoint": "external",
}
STRUCTURED = tuple(name for name, kind in PRUNERS.items() if kind == "structured")
UNSTRUCTURED = tuple(name for name, kind in PRUNERS.items() if kind == "unstructured")
GRAPH = tuple(name for name, kind in PRUNERS.items() if kind == "graph")
EXTERNAL = tuple(name for name, kind in PRUNERS.items() if kind == "external")


def pruner_kind(name: str) -> str:
    """The registry's kind of ``pruner=name``, or one line listing the valid names."""
    if name not in PRUNERS:
        raise ConfigError(f"pruner={name!r} is unknown; valid: {', '.join(PRUNERS)}")
    return PRUNERS[name]


@dataclass(frozen=True)
class PruningSpec:
    name: str
    ratio: float = 0.0
    stage_ratios: Optional[List[float]] = None
    skip_layers: List[int] = field(default_factory=list)
    widths: Optional[List[int]] = None  # explicit kept widths per prunable conv (VGG variants)
    sparsity: float = 0.0  # unstructured: fraction of the remaining conv weights zeroed per round
    rounds: int = 1
    taylor_batches: int = 10
    round_to: int = 1  # keep a multiple of this many filters (hardware-friendly widths)
    importance: Optional[Dict[str, Any]] = None  # torch_pruning: the importance node (_target_ + kwargs)
    global_pruning: bool = False  # torch_pruning: rank channels across groups instead of per group
    function: Optional[str] = None  # custom: "module:callable"
    kwargs: Dict[str, Any] = field(default_factory=dict)  # custom: the callable's own settings
    path: Optional[str] = None  # checkpoint: the pruned checkpoint file
    architecture: Optional[Dict[str, Any]] = None  # checkpoint: a _target_ node building the pruned model
    widths_from: Optional[str] = None  # random: take per-layer widths from this pruned checkpoint
    allocation: str = "global"  # unstructured: how the sparsity is shared among layers (pruning/allocation.py)
    first_layer: str = "auto"  # unstructured: dense | sparse | auto (dense under uniform only)
    classifier: str = "dense"  # unstructured, nm: sparse masks the last linear layer too
    initial_sparsity: float = 0.0  # agp: s_i, applied when retraining starts
    start: float = 0.0  # agp: t_0 as a fraction of the retraining steps
    end: float = 0.75  # agp: t_0 + n dt as a fraction of the retraining steps
    frequency: int = 100  # agp: dt, steps between mask updates
    n: int = 2  # nm: nonzero weights kept ...
    m: int = 4  # nm: ... in every group of m consecutive input channels

    @property
    def structured(self) -> bool:
        return PRUNERS[self.name] == "structured"

    @property
    def graph(self) -> bool:
        return self.name in GRAPH

    @property
    def external(self) -> bool:
        return self.name in EXTERNAL

    @property
    def unstructured(self) -> bool:
        return PRUNERS[self.name] == "unstructured"

    @property
    def gradual(self) -> bool:
        return self.name == "agp"


@lru_cache(maxsize=1)
def variants() -> Dict[str, Dict[str, Dict[str, Any]]]:
    """The paper's variants, read once from ``variants.yaml`` beside this file."""
    return OmegaConf.to_container(OmegaConf.load(Path(__file__).with_name("variants.yaml")))


def resolve(pruner: PrunerConf, model_name: str) -> PruningSpec:
    """The pruner config for ``model_name`` as a spec, with its variant (if any) applied."""
    pruner_kind(pruner.name)
    fields = dict(
        name=pruner.name,
        ratio=float(pruner.ratio),
        stage_ratios=None if pruner.stage_ratios is None else [float(r) for r in pruner.stage_ratios],
        skip_layers=[int(i) for i in pruner.skip_layers],
        sparsity=float(pruner.sparsity),
        rounds=int(pruner.rounds),
        taylor_batches=int(pruner.taylor_batches),
        round_to=int(pruner.round_to),
        widths_from=pruner.widths_from,
        **_extra_fields(pruner),
    )
    if pruner.variant is not None:
        table = variants().get(model_name, {})
        if pruner.variant not in table:
            valid = ", ".join(table) if table else "none"
            raise ConfigError(f"pruner.variant={pruner.variant!r} does not exist for model={model_name}; valid: {valid}")
        if pruner.name not in STRUCTURED:
            raise ConfigError(f"pruner.variant applies to filter pruners ({', '.join(STRUCTURED)}), not {pruner.name}")
        fields.update(variants()[model_name][pruner.variant])
    return PruningSpec(**fields)


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _extra_fields(pruner: PrunerConf) -> Dict[str, Any]:
    """The settings only the generic pruners have: the fields their schemas (TorchPruningConf,
    CustomPrunerConf, CheckpointPrunerConf) add to PrunerConf, under the same names in the spec."""
    common = {f.name for f in dataclasses.fields(PrunerConf)}
    return {f.name: _plain(getattr(pruner, f.name)) for f in dataclasses.fields(pruner) if f.name not in common}


def validate(spec: PruningSpec, model: Any) -> None:
    """One-line errors for a spec this model cannot take, before any training."""
    if spec.unstructured:
        if not 0.0 < spec.sparsity < 1.0:
            raise ConfigError(f"pruner.sparsity={spec.sparsity} must lie in (0, 1) for pruner={spec.name}")
        return
    if spec.allocation != "global" or spec.first_layer != "auto":
        raise ConfigError(f"pruner.allocation and pruner.first_layer apply to weight pruners ({', '.join(UNSTRUCTURED)}), "
                          f"not {spec.name}")
    if spec.name == "nm":
        if spec.rounds != 1:
            raise ConfigError(f"pruner.rounds={spec.rounds}: an N:M pattern is reached in one step; use rounds=1")
        return
    if spec.widths_from is not None and spec.name != "random":
        raise ConfigError(f"pruner.widths_from applies to pruner=random, not {spec.name}")
    if spec.external or spec.widths_from is not None:
        _validate_external(spec)
        return
    if spec.graph or (spec.structured and not hasattr(model, "prunable_convs")):
        _validate_graph(spec, model)
        return
    if not spec.structured:
        return
    convs = model.prunable_convs()
    if spec.widths is not None and len(spec.widths) != len(convs):
        raise ConfigError(f"pruner widths list {len(spec.widths)} convs; this model has {len(convs)}")
    stages = 1 + max(stage for _, stage, _ in convs)
    ratios = [spec.ratio] if spec.stage_ratios is None else spec.stage_ratios
    if spec.stage_ratios is not None and len(ratios) != stages:
        raise ConfigError(f"pruner.stage_ratios has {len(ratios)} entries; this model has {stages} stages")
    for r in ratios:
        if not 0.0 <= r < 1.0:
            raise ConfigError(f"pruning ratio {r} must lie in [0, 1)")
    known = {layer_id for layer_id, _, _ in convs}
    unknown = sorted(set(spec.skip_layers) - known)
    if unknown:
        raise ConfigError(f"pruner.skip_layers {unknown} are not prunable layer ids of this model: {sorted(known)}")
    if spec.name == "taylor" and not hasattr(model, "batchnorm_after"):
        raise ConfigError(f"pruner=taylor needs the BN after each conv; {type(model).__name__} does not name them")


def _validate_graph(spec: PruningSpec, model: Any) -> None:
    """Torch-Pruning's pruner takes one ratio; a skip list needs the model's ``prunable_convs``."""
    listed = hasattr(model, "prunable_convs")
    if spec.stage_ratios is not None or spec.widths is not None or (spec.skip_layers and not listed):
        what = "pruner.stage_ratios / variant" if listed else "pruner.stage_ratios / skip_layers / variant"
        raise ConfigError(f"{what} cannot steer pruner={spec.name} on {type(model).__name__}: "
                          "the graph pruner prunes by one pruner.ratio")
    if spec.skip_layers:
        known = {layer_id for layer_id, _, _ in model.prunable_convs()}
        unknown = sorted(set(spec.skip_layers) - known)
        if unknown:
            raise ConfigError(f"pruner.skip_layers {unknown} are not prunable layer ids of this model: {sorted(known)}")
    if spec.graph and (spec.importance is None or "_target_" not in spec.importance):
        raise ConfigError("pruner.importance._target_ must name a Torch-Pruning importance, "
                          "e.g. torch_pruning.importance.MagnitudeImportance")


def _validate_external(spec: PruningSpec) -> None:
    """What the custom / checkpoint pruners need; their callables and files are checked on use."""
    if spec.name == "custom" and not spec.function:
        raise ConfigError("pruner.function must name module:callable for pruner=custom")
    if spec.name == "checkpoint" and not spec.path:
        raise ConfigError("pruner.path must name a pruned checkpoint for pruner=checkpoint")
    if (spec.name == "checkpoint" or spec.widths_from is not None) and spec.rounds != 1:
        raise ConfigError(f"pruner.rounds={spec.rounds}: a checkpoint's widths are pruned once; use rounds=1")


def with_ratio(spec: PruningSpec, ratio: float) -> PruningSpec:
    """The same spec with one uniform ratio (used when matching a target size)."""
    return replace(spec, ratio=ratio, stage_ratios=None, widths=None)
