"""The cell record: one typed object for what a cell did, and the one way a cell ends.

A record is written as ``record.json`` in the cell's cache folder (which makes a
finished cell free to ask for again) and in the run's output folder; the tables read
it back (:mod:`benchmark.report.collect`). Every terminal state, a finished cell or one
that diverged in any stage, ends through :func:`finish_cell`, so all of them land in
the cache, in the output folder and in the W&B summary alike.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol

from benchmark import distributed
from benchmark.artefacts import read_json, write_json
from benchmark.environment import environment
from benchmark.identity import Identity, cell_name, comparison_name

# A cell in one of these states is done: asking for it again reuses its record.
log = logging.getLogger(__name__)
TERMINAL_STATUSES = ("finished", "diverged")


def reductions(before: Dict[str, Any], after: Dict[str, Any]) -> Dict[str, float]:
    """The size reductions of a pruned model against its dense one, the one definition the
    cell, plan mode and the tables share: percent of parameters and of FLOPs removed, and
    the fraction of parameters gone (masked weights count as gone). Counts that could not be
    made (``None``: plan mode for a pruner that needs data) give ``None``."""
    if after["params"] is None or after["flops"] is None:
        return {"params_reduction_pct": None, "flops_reduction_pct": None, "sparsity": None}
    return {
        "params_reduction_pct": 100.0 * (1 - after["params"] / before["params"]),
        "flops_reduction_pct": 100.0 * (1 - after["flops"] / before["flops"]),
        "sparsity": 1.0 - after["params"] / before["params"],
    }


@dataclass
class CellRecord:
    """Everything a cell leaves behind; ``as_dict`` is the ``record.json`` layout."""

    identity: Dict[str, str]
    name: str
    comparison: str
    config: Dict[str, Any]
    seeds: Dict[str, int]
    budget_epochs: int
    steps_per_epoch: int
    environment: Dict[str, Any]
    status: str = "running"  # running | finished | diverged
    metrics: Dict[str, Any] = field(default_factory=dict)
    model: Dict[str, Any] = field(default_factory=dict)
    history: List[Dict[str, Any]] = field(default_factory=list)
    retraining: Dict[str, Any] = field(default_factory=dict)  # what pruning decided: ALLR's rate, KD seconds, ...
    seconds: Dict[str, float] = field(default_factory=dict)
    diverged: Optional[Dict[str, Any]] = None  # {"stage", "epoch"[, "round"]} when status == diverged
    rounds: Optional[List[Dict[str, Any]]] = None  # iterative pruning: one entry per round
    baseline: Optional[Dict[str, Any]] = None  # the dense baseline's curve and convergence verdict (benchmark.retraining.convergence)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def as_dict(self) -> Dict[str, Any]:
        """The JSON layout; optional parts appear only when they hold something."""
        record = dataclasses.asdict(self)
        return {k: v for k, v in record.items() if not (k in ("diverged", "rounds", "baseline") and v is None)}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "CellRecord":
        """A record read back from JSON; keys this version does not know are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> Dict[str, Any]:
        """What the W&B summary carries: metrics, status, model counts and stage seconds, so
        a run known only to W&B fills the same table columns as a record."""
        summary = {k: v for k, v in self.metrics.items() if v is not None} | {"status": self.status}
        summary |= {f"model/{k}": v for k, v in self.model.items() if isinstance(v, (int, float))}
        summary |= {f"seconds/{k}": v for k, v in self.seconds.items()}
        if self.baseline is not None:
            summary["baseline/converged"] = self.baseline["convergence"]["converged"]
        if self.diverged is not None:
            summary |= {f"diverged/{k}": v for k, v in self.diverged.items() if v is not None}
        return summary


def read_record(path: Path) -> Optional[CellRecord]:
    """The record at ``path``, or None when it is missing, unreadable or not a record."""
    data = read_json(path)
    if data is None:
        return None
    try:
        return CellRecord.from_dict(data)
    except TypeError:  # a foreign JSON object or a record missing required keys
        return None


def reuse_finished(cell_dir: Path, output_dir: Path) -> Optional[CellRecord]:
    """The record of a cell already done (copied into the run folder), or None: what makes a finished
    cell free to ask for again, for image and language-model cells alike."""
    done = read_record(cell_dir / "record.json")
    if done is None or not done.done:
        return None
    log.info("cell %s already %s: reusing its record", cell_dir.name, done.status)
    write_record(done, output_dir)
    return done


class Summarised(Protocol):
    def summarise(self, summary: Dict[str, Any]) -> None: ...


def write_record(record: CellRecord, *folders: Path, enabled: bool = True) -> None:
    """``record.json`` into each folder (atomically); nothing on a DDP rank other than 0."""
    for folder in folders:
        write_json(record.as_dict(), folder / "record.json", enabled=enabled)


def finish_cell(record: CellRecord, tracker: Summarised, cell_dir: Path, output_dir: Path, *,
                enabled: bool = True, payload: Optional[Dict[str, Any]] = None) -> CellRecord:
    """End a cell in a terminal state: the W&B summary, then (with ``payload``, what its
    identity hashes, as ``identity.json``) the record in the cell cache and the output folder.
    The one exit of every cell, finished or diverged in any stage; a cell that fails earlier
    leaves nothing in its cache folder."""
    if not record.done:
        raise ValueError(f"finish_cell needs a terminal status, not {record.status!r}")
    tracker.summarise(record.summary())
    if payload is not None:
        write_json(payload, cell_dir / "identity.json", enabled=enabled)
    write_record(record, cell_dir, output_dir, enabled=enabled)
    return record


def new_record(cfg: BenchmarkConf, ident: Identity, epochs: int, steps: int, device: Any) -> CellRecord:
    """The record of a cell that has just started: what it is, where it runs."""
    return CellRecord(
        identity=ident.as_dict(),
        name=cell_name(cfg, epochs),
        comparison=comparison_name(cfg, epochs),
        config=dataclasses.asdict(cfg),
        seeds=dataclasses.asdict(cfg.seed),
        budget_epochs=epochs,
        steps_per_epoch=steps,
        environment=environment(device) | {"world_size": distributed.world_size(),
                                           "precision": ident.payloads["baseline"]["precision"]},
    )
