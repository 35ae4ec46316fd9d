"""The pruning plan: one resolved description of what a pruner removes from a model.

A pruner config (``conf/pruner/*.yaml``) may name a paper variant, a uniform ratio,
per-stage ratios with a skip list, explicit widths, or a sparsity. ``resolve`` turns it,
for one model, into a :class:`PruningSpec`, and ``validate`` rejects, in one line and
before any training, what the model cannot take.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import OmegaConf

from benchmark.errors import ConfigError
from benchmark.schema import PrunerConf

# The pruner registry: name -> kind. Structured pruners remove filters (their scores are
# ``benchmark.pruning.structured.SCORES``), unstructured ones attach masks (their methods are
# ``benchmark.pruning.unstructured.METHODS``); ``none`` keeps the baseline whole.
PRUNERS: Dict[str, str] = {
    "none": "none",
    "l1": "structured",
    "random": "structured",
    "taylor": "structured",
    "mwp": "unstructured",
    "random_unstructured": "unstructured",
}
STRUCTURED = tuple(name for name, kind in PRUNERS.items() if kind == "structured")
UNSTRUCTURED = tuple(name for name, kind in PRUNERS.items() if kind == "unstructured")


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

    @property
    def structured(self) -> bool:
        return PRUNERS[self.name] == "structured"

    @property
    def unstructured(self) -> bool:
        return PRUNERS[self.name] == "unstructured"


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


def validate(spec: PruningSpec, model: Any) -> None:
    """One-line errors for a spec this model cannot take, before any training."""
    if spec.rounds < 1:
        raise ConfigError(f"pruner.rounds={spec.rounds} must be >= 1")
    if spec.round_to < 1:
        raise ConfigError(f"pruner.round_to={spec.round_to} must be >= 1")
    if spec.unstructured:
        if not 0.0 < spec.sparsity < 1.0:
            raise ConfigError(f"pruner.sparsity={spec.sparsity} must lie in (0, 1) for pruner={spec.name}")
        return
    if not spec.structured:
        return
    if not hasattr(model, "prunable_convs"):
        raise ConfigError(f"pruner={spec.name} cannot prune {type(model).__name__}: it lists no prunable convs")
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


def with_ratio(spec: PruningSpec, ratio: float) -> PruningSpec:
    """The same spec with one uniform ratio (used when matching a target size)."""
    return replace(spec, ratio=ratio, stage_ratios=None, widths=None)
