"""Content identities of the three stages: baseline, pruned model, retrained cell.

An identity is a short hash of the canonical JSON of exactly the settings that change
a stage's result: never paths, logging, launcher, progress or device. The baseline
hashes dataset, model, recipe and its seed; the pruned model hashes its baseline's
identity, the pruner and the pruning seed; the cell hashes its pruned model's
identity, the schedule, the resolved budget T and the retraining seed. So every cell
of a comparison shares one baseline and one pruned model, and ``budget.fraction=0.25``
and ``budget.epochs=40`` (with E = 160) name the same cell.

Changing what enters an identity orphans every cached artefact: ``tests/test_identity.py``
pins known hashes so such a change is always deliberate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, Optional

from benchmark.schema import BenchmarkConf

from benchmark import pruning
from benchmark.models.custom import model_fingerprint

# Dataset fields that say where data lives or how to fetch it, not what it is.
_DATASET_LOCATION_FIELDS = ("root", "download", "workers")
# Recipe fields that name it, not what it does (its values are hashed).
_RECIPE_NAME_FIELDS = ("name",)
# Files a user brings: their SHA-256 enters the identity (benchmark.sources), their path does not;
# unset, they are left out, so every identity from before they existed stays the same.
_FILE_FIELDS = {"model": ("weights",), "pruner": ("path", "widths_from")}
# Recipe fields added after identities were pinned, left out while at their defaults, so every
# existing baseline keeps its name (a step SGD recipe hashes as before) and any other value counts.
_RECIPE_ADDED_DEFAULTS = {"optimizer": "sgd", "betas": [0.9, 0.999], "shape": "step", "warmup_epochs": 0,
                          "min_lr": 0.0}
# The same for schedules; ``rates`` (LRW's recorded rates) is filled from the baseline, never configured.
_SCHEDULE_ADDED_DEFAULTS = {"source": "recipe", "rates": None}


def _without(node: Dict[str, Any], added_defaults: Dict[str, Any]) -> Dict[str, Any]:
    """``node`` minus the added fields that still hold their defaults."""
    return {k: v for k, v in node.items() if not (k in added_defaults and added_defaults[k] == v)}


def _plain(node: Any) -> Dict[str, Any]:
    return dataclasses.asdict(node)


def digest(payload: Dict[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of the payload's canonical JSON."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Identity:
    baseline: str
    pruned: str
    cell: str

    def as_dict(self) -> Dict[str, str]:
        return {"baseline": self.baseline, "pruned": self.pruned, "cell": self.cell}


def _without_files(group: str, node: Any) -> Dict[str, Any]:
    return {k: v for k, v in _plain(node).items() if k not in _FILE_FIELDS[group]}


def baseline_payload(cfg: BenchmarkConf) -> Dict[str, Any]:
    dataset = {k: v for k, v in _plain(cfg.dataset).items() if k not in _DATASET_LOCATION_FIELDS}
    recipe = _without({k: v for k, v in _plain(cfg.recipe).items() if k not in _RECIPE_NAME_FIELDS},
                      _RECIPE_ADDED_DEFAULTS)
    payload = {"dataset": dataset, "model": _without_files("model", cfg.model), "recipe": recipe,
               "seed": cfg.seed.baseline}
    return payload | model_fingerprint(cfg.model)


def identity(cfg: BenchmarkConf, retrain_epochs: int) -> Identity:
    """The three stage identities of one cell, each built on the one before."""
    baseline = "base-" + digest(baseline_payload(cfg))
    pruned = "prune-" + digest({"baseline": baseline, "pruner": _without_files("pruner", cfg.pruner),
                                "seed": cfg.seed.prune} | pruning.fingerprint(cfg.pruner))
    payload = {"pruned": pruned, "schedule": _without(_plain(cfg.schedule), _SCHEDULE_ADDED_DEFAULTS),
               "epochs": retrain_epochs, "seed": cfg.seed.retrain}
    # Options added later enter only when used, so every existing cell keeps its name.
    if cfg.distill.name != "none":
        payload["distill"] = _plain(cfg.distill)
    if cfg.bn_recalibration is not None:
        payload["bn_recalibration"] = cfg.bn_recalibration
    cell = "cell-" + digest(payload)
    return Identity(baseline, pruned, cell)


def cell_name(cfg: BenchmarkConf, retrain_epochs: int) -> str:
    """A readable name for logs and W&B: what the cell is, not a unique key."""
    kd = "+kd" if cfg.distill.name == "kd" else ""
    return (f"{cfg.dataset.name}-{cfg.model.name}-{cfg.pruner.name}-{cfg.schedule.name}{kd}"
            f"-T{retrain_epochs}-s{cfg.seed.retrain}")


def comparison_name(cfg: BenchmarkConf, retrain_epochs: int) -> str:
    """The W&B group: the cells that differ only by schedule and retraining seed."""
    return comparison_key(cfg.dataset.name, cfg.model.name, cfg.pruner.name, retrain_epochs)


def comparison_key(dataset: str, model: str, pruner: str, retrain_epochs: Optional[int]) -> str:
    """:func:`comparison_name` from the names alone (a W&B run's config, read back)."""
    return f"{dataset}-{model}-{pruner}-T{retrain_epochs}"
