"""Content identities of the three stages: baseline, pruned model, retrained cell.

An identity is a short hash of the canonical JSON of the settings that change a stage's
result, chosen by one rule: every leaf of the resolved config is either hashed into a stage
(``HASHED``: each config section, or seed, feeds the stage whose result it changes) or
listed in ``EXCLUDED`` with the reason it cannot change a result. ``tests/test_identity.py``
walks every leaf of every preset and fails on a key that is in neither, so a new setting
cannot silently be left out of (or be added to) the identities.

The baseline hashes dataset, model, recipe, its seed, the content of a user's model files
and constructor (``benchmark.models.custom.model_fingerprint``) and the numeric precision (bf16
autocast on CUDA when ``fast``, fp32 otherwise): a bf16 baseline is never reused by an fp32
cell. The pruned model hashes its baseline's identity, the pruner, the content of what it
names (``benchmark.pruning.fingerprint``) and the pruning seed; the
cell hashes its pruned model's identity, the schedule, the resolved budget T and the
retraining seed. So every cell of a comparison shares one baseline and one pruned model, and
``budget.fraction=0.25`` and ``budget.epochs=40`` (with E = 160) name the same cell.

The payload of each identity is written beside its artefact (``identity.json``), so a user
can read what a hash means. Changing what enters an identity orphans every cached artefact:
``tests/test_engine.py`` pins known hashes so such a change is always deliberate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from omegaconf import DictConfig, ListConfig, OmegaConf

# Config leaves (or whole sections, by prefix) -> the stage whose identity they enter.
HASHED: Dict[str, str] = {
    "dataset": "baseline", "model": "baseline", "recipe": "baseline", "seed.baseline": "baseline",
    "pruner": "pruned", "seed.prune": "pruned",
    "schedule": "cell", "seed.retrain": "cell", "distill": "cell", "bn_recalibration": "cell",
    "retrain": "cell",  # language models: which parameters retraining updates
}
# Leaves added after the identities were pinned, left out of the payload while they hold these
# defaults: a cell that does not use them keeps its name, and any other value enters the hash.
ADDED_DEFAULTS: Dict[str, Any] = {
    "recipe.optimizer": "sgd", "recipe.betas": [0.9, 0.999], "recipe.shape": "step", "recipe.warmup_epochs": 0,
    "recipe.min_lr": 0.0, "schedule.source": "recipe", "schedule.rates": None,
    "distill.name": "none", "dataset.image_size": 32, "distill.alpha": 0.5, "distill.temperature": 4.0, "bn_recalibration": None,
    "pruner.allocation": "global", "pruner.first_layer": "auto", "pruner.classifier": "dense",
    # Language models (benchmark/lm): the retraining regime, default "all parameters".
    "retrain.params": "all", "retrain.lora.rank": 8, "retrain.lora.alpha": 16.0, "retrain.lora.dropout": 0.0,
    "retrain.lora.targets": ["all-linear"], "retrain.lora.masked": True, "retrain.objective": "next_token",
    # A text dataset's files, typed per split (an empty mapping before, which had no leaves).
    "dataset.files.train": [], "dataset.files.validation": [], "dataset.files.test": [],
}
# Config leaves (or sections) that enter no identity, each with the reason.
_FILE = "a file's path, not its content: the file's SHA-256 enters instead (benchmark.sources)"
_ROUNDING = "changes only floating-point rounding, not the computation; recorded in the record's config and environment"
EXCLUDED: Dict[str, str] = {
    "dataset.root": "where the data lives, not what it is",
    "dataset.download": "whether to fetch missing data, not what it is",
    "dataset.workers": "loader processes: the same images in the same order",
    "recipe.name": "names the data family the recipe was written for; its values are hashed",
    "model.weights": _FILE,
    "pruner.path": _FILE,
    "pruner.widths_from": _FILE,
    "budget.epochs": "hashed as the resolved T (the cell's 'epochs'): two spellings of one budget name one cell",
    "budget.fraction": "hashed as the resolved T (the cell's 'epochs'): two spellings of one budget name one cell",
    "device": _ROUNDING + " (what device changes beyond rounding, the precision, is hashed)",
    "fast": "enters as its effect, 'precision' (bf16 autocast where native); its compile and memory layout " + _ROUNDING,
    "precision": "enters as its effect, the resolved precision (auto becomes fp32 or bf16 on the device that runs it)",
    "compile_min_steps": "whether a stage's step is compiled (torch.compile): " + _ROUNDING,
    "deterministic": "deterministic kernels choose the order of sums: " + _ROUNDING,
    "latency": "the forward-latency measurement protocol: a speed reading, not a training result",
    "convergence": "the rule that judges the baseline's history (benchmark.retraining.convergence): a verdict, not what is trained",
    "wandb": "logging only",
    "progress": "display only",
    "plan": "plan mode's output format and its assumed GPU throughput",
    "mode": "run or plan: plan mode trains nothing",
    "paths": "where artefacts are stored",
    "rewind_epochs": "which weight snapshots the baseline keeps beside it for schedule=wr: not the baseline's result",
    "model.num_params": "plan mode's size hint for a hub model not on this machine; training reads the model itself",
}


def _plain(node: Any) -> Any:
    """A config (OmegaConf node or the schema's dataclasses) as plain dicts and lists."""
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return dataclasses.asdict(node) if dataclasses.is_dataclass(node) and not isinstance(node, type) else node


def leaves(node: Any, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """Every (dotted key, value) of a config, lists as values."""
    plain = _plain(node)
    if isinstance(plain, dict):
        for key, value in plain.items():
            yield from leaves(value, f"{prefix}{key}.")
    else:
        yield prefix[:-1], plain


def _rule(key: str, table: Dict[str, str]) -> str | None:
    """The entry of ``table`` for ``key`` or the nearest section above it."""
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in table:
            return ".".join(parts[:end])
    return None


def unclassified(cfg: Any) -> List[str]:
    """Leaves that are neither hashed nor excluded (a test keeps this empty). An exclusion may
    carve a leaf out of a hashed section (``dataset.root`` out of ``dataset``)."""
    return [k for k, _ in leaves(cfg) if _rule(k, HASHED) is None and _rule(k, EXCLUDED) is None]


def _stage_settings(cfg: Any, stage: str) -> Dict[str, Any]:
    """The hashed leaves of one stage, nested again by key: ``{"dataset": {...}, "seed": {...}}``."""
    settings: Dict[str, Any] = {}
    for key, value in leaves(cfg):
        rule = _rule(key, HASHED)
        if rule is None or HASHED[rule] != stage or _rule(key, EXCLUDED) is not None:
            continue
        if key in ADDED_DEFAULTS and ADDED_DEFAULTS[key] == value:
            continue
        *path, last = key.split(".")
        node = settings
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return settings


def digest(payload: Dict[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of the payload's canonical JSON."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Identity:
    baseline: str
    pruned: str
    cell: str
    payloads: Dict[str, Dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    def as_dict(self) -> Dict[str, str]:
        return {"baseline": self.baseline, "pruned": self.pruned, "cell": self.cell}


def identity(cfg: Any, retrain_epochs: int, *, fingerprints: Tuple[Dict[str, Any], Dict[str, Any]],
             precision: str) -> Identity:
    """The three stage identities of one cell, each built on the one before. ``fingerprints``
    (what the baseline and the pruned model hash beyond the config: the content of the files and
    callables they name) and ``precision`` (fp32 | bf16, what the cell computes in) come from the
    cell's task (:func:`benchmark.tasks.cell_identity`)."""
    model_fp, pruner_fp = fingerprints
    # Beyond the config: what a user's files and callables contain (empty for the built-ins).
    baseline_payload = _stage_settings(cfg, "baseline") | {"precision": precision} | model_fp
    baseline = "base-" + digest(baseline_payload)
    pruned_payload = {"baseline": baseline} | _stage_settings(cfg, "pruned") | pruner_fp
    pruned = "prune-" + digest(pruned_payload)
    cell_payload = {"pruned": pruned, "epochs": retrain_epochs} | _stage_settings(cfg, "cell")
    cell = "cell-" + digest(cell_payload)
    payloads = {"baseline": baseline_payload, "pruned": pruned_payload, "cell": cell_payload}
    return Identity(baseline, pruned, cell, payloads)


def payload_file(ident: Identity, stage: str) -> Dict[str, Any]:
    """What ``identity.json`` beside a stage's artefact holds: the id and the payload it hashes."""
    return {"identity": getattr(ident, stage), "hashed": ident.payloads[stage],
            "excluded": {key: reason for key, reason in EXCLUDED.items()}}


def cell_name(cfg: Any, retrain_epochs: int) -> str:
    """A readable name for logs and W&B: what the cell is, not a unique key."""
    return (f"{cfg.dataset.name}-{cfg.model.name}-{cfg.pruner.name}-{cfg.schedule.name}"
            f"-T{retrain_epochs}-s{cfg.seed.retrain}")


def comparison_name(cfg: Any, retrain_epochs: int) -> str:
    """The W&B group: the cells that differ only by schedule and retraining seed."""
    return comparison_key(cfg.dataset.name, cfg.model.name, cfg.pruner.name, retrain_epochs)


def comparison_key(dataset: str, model: str, pruner: str, retrain_epochs: Optional[int]) -> str:
    """:func:`comparison_name` from the names alone (a W&B run's config, read back)."""
    return f"{dataset}-{model}-{pruner}-T{retrain_epochs}"
