"""The leaderboard's data: criteria x schedules x seeds from a sweep's records, and what was left out.

A row of the board is a *criterion*, named from the cell's config (:func:`criterion_label`: the
suite's own L1, random and Taylor, a Torch-Pruning importance with its arguments, a user's
callable). A criterion is ranked only when it meets the common FLOPs target (within
:data:`TOLERANCE` points) and has a finished cell at every schedule and seed of the board; the
others are listed with the reason. The statistics are :mod:`benchmark.report.ranking`'s; the
outputs are written by :mod:`benchmark.report.leaderboard`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from benchmark.report import ranking
from benchmark.report.collect import collect
from benchmark.report.metric import TOP1, Metric
from benchmark.report.paired import SEED_KEYS
from benchmark.report.tables import tidy
from benchmark.retraining.schedules import order_key

REFERENCE, STANDARD = "ft", "clr"  # the paper's weak and strong retraining: the flips and the chart compare them
BEFORE = "before retraining"  # the ranking by the pruned models' accuracy, before any retraining
TOLERANCE = 1.0  # percentage points of FLOPs removed around the common target
# The suite's own criteria, and Torch-Pruning's importances, by the names the literature uses.
OWN = {"l1": "L1 (PFEC)", "random": "random", "taylor": "Taylor-FO-BN"}
IMPORTANCES = {"MagnitudeImportance": "group L{p}", "GroupMagnitudeImportance": "group L{p}", "FPGMImportance": "FPGM",
               "BNScaleImportance": "BN scale", "LAMPImportance": "LAMP", "GroupHessianImportance": "Hessian (OBD)",
               "HessianImportance": "Hessian (OBD)", "GroupTaylorImportance": "group Taylor",
               "TaylorImportance": "group Taylor", "RandomImportance": "random (TP)", "OBDCImportance": "OBDC",
               "ActivationImportance": "activation"}


def _kwargs(row: pd.Series, prefix: str, skip: Sequence[str] = ()) -> Dict[str, Any]:
    """The flattened ``config.pruner.<section>.*`` columns of a row that hold a value."""
    found = {}
    for column in sorted(c for c in row.index if c.startswith(prefix)):
        key, value = column[len(prefix):], row[column]
        if key in skip or value is None or (isinstance(value, float) and np.isnan(value)) or value == {}:
            continue
        found[key] = value
    return found


def _show(kwargs: Dict[str, Any]) -> str:
    return "".join(f" {k}={v:g}" if isinstance(v, float) else f" {k}={v}" for k, v in kwargs.items())


def criterion_label(row: pd.Series) -> str:
    """What chose the surviving filters, named from the cell's config: the suite's own criterion,
    a Torch-Pruning importance (with its non-default arguments), or a user's callable."""
    name = row["config.pruner.name"]
    if name in OWN:
        return OWN[name]
    if name == "torch_pruning":
        target = str(row.get("config.pruner.importance._target_", ""))
        short = target.rpartition(".")[2]
        kwargs = _kwargs(row, "config.pruner.importance.", skip=("_target_",))
        label = IMPORTANCES.get(short, short)
        if "{p}" in label:
            label = label.format(p=f"{float(kwargs.pop('p', 2)):g}")
        glob = row.get("config.pruner.global_pruning")
        return label + _show(kwargs) + (" global" if glob is True else "")
    if name == "custom":
        function = str(row.get("config.pruner.function", ""))
        return function.rpartition(":")[2] + _show(_kwargs(row, "config.pruner.kwargs."))
    return str(row.get("pruner", name))


def _seed_label(row: pd.Series) -> str:
    seeds = [row.get(k) for k in SEED_KEYS]
    values = {int(s) for s in seeds if pd.notna(s)}
    return str(values.pop()) if len(values) == 1 else "/".join(str(s) for s in seeds)


def _flops_removed(rows: pd.DataFrame) -> float:
    before, after = pd.to_numeric(rows["model.flops_before"]), pd.to_numeric(rows["model.flops_after"])
    return float((100.0 * (1.0 - after / before)).mean())


def common_target(frame: pd.DataFrame, target: Optional[float] = None) -> Optional[float]:
    """The common target in percent: given, else the one the preset's records name most often."""
    if target is not None:
        return 100.0 * target
    if "config.pruner.target_reduction" not in frame:
        return None
    named = frame["config.pruner.target_reduction"]
    if "config.pruner.target_metric" in frame:
        named = named[frame["config.pruner.target_metric"] == "flops"]
    named = pd.to_numeric(named, errors="coerce").dropna()
    return None if named.empty else 100.0 * float(named.value_counts().sort_index().idxmax())


@dataclass
class Leaderboard:
    """The ranked criteria, their per-seed values (``table``) and what was left out, and why."""

    metric: Metric
    setting: Dict[str, Any]
    criteria: List[str]
    schedules: List[str]
    seeds: List[str]
    table: ranking.Table
    cells: pd.DataFrame  # one row per (criterion, schedule, seed) used: value, pruned value, record path
    flops: Dict[str, float]  # percent of FLOPs removed, every criterion seen
    target: Optional[float]  # percent
    left_out: Dict[str, str] = field(default_factory=dict)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)  # every collected row (environment, wall times)
    linked: bool = True  # every cell's baseline, pruning and retraining seeds are one number

    @property
    def columns(self) -> List[str]:
        """The rankings: before retraining (where recorded), then every schedule."""
        return ([BEFORE] if BEFORE in self.table.values else []) + self.schedules

    def standings(self, column: str) -> Dict[str, ranking.Standing]:
        return dict(zip(self.criteria, self.table.standings(column)))

    def taus(self) -> List[ranking.Tau]:
        """Every pair of schedules, then before retraining against each schedule."""
        pairs = self.table.taus(self.schedules)
        if BEFORE in self.table.values:
            pairs += [self.table.tau(BEFORE, s) for s in self.schedules]
        return pairs

    def flips(self) -> List[ranking.Flip]:
        if REFERENCE not in self.schedules or STANDARD not in self.schedules:
            return []
        return self.table.flips(REFERENCE, STANDARD)

    def random_criterion(self) -> Optional[str]:
        return OWN["random"] if OWN["random"] in self.criteria else None


def _setting(done: pd.DataFrame) -> Dict[str, Any]:
    settings = done[["dataset", "model", "T"]].drop_duplicates()
    if len(settings) != 1:
        listed = "; ".join(f"{d} {m} T={t}" for d, m, t in settings.itertuples(index=False))
        raise ValueError(f"the records hold {len(settings)} settings ({listed}); a leaderboard ranks one: "
                         "give the folder of one sweep")
    dataset, model, epochs = settings.iloc[0]
    return {"dataset": dataset, "model": model, "T": int(epochs)}


def _complete(cells: pd.DataFrame, schedules: List[str], seeds: List[str], left_out: Dict[str, str]) -> List[str]:
    """Criteria with a finished cell at every schedule and seed; the others go to ``left_out``."""
    kept = []
    for criterion, rows in cells.groupby("criterion", sort=True):
        have = set(zip(rows["schedule"], rows["seed"]))
        missing = [f"{s} seed {r}" for s in schedules for r in seeds if (s, r) not in have]
        if missing:
            left_out[criterion] = f"{len(missing)} cell(s) without a finished record: {', '.join(missing)}"
        else:
            kept.append(criterion)
    return kept


def build(frame: pd.DataFrame, metric: Metric = TOP1, target: Optional[float] = None,
          resamples: int = ranking.RESAMPLES, seed: int = ranking.SEED) -> Leaderboard:
    """The leaderboard of a tidied frame (:func:`benchmark.report.tables.tidy`); ValueError, one line,
    when fewer than two criteria can be ranked."""
    done = frame[(frame["status"] == "finished") & frame[metric.column].notna()].copy()
    if done.empty:
        raise ValueError(f"no finished cell with {metric.column}")
    setting = _setting(done)
    done["criterion"] = done.apply(criterion_label, axis=1)
    done["seed"] = done.apply(_seed_label, axis=1)
    done = done.sort_values(["criterion", "schedule", "seed", "path"], kind="stable")
    cells = done.drop_duplicates(["criterion", "schedule", "seed"])
    goal = common_target(done, target)
    flops = {c: _flops_removed(rows) for c, rows in cells.groupby("criterion", sort=True)}
    left_out = {c: "its records hold no FLOPs counts" if np.isnan(v) else
                f"removes {v:.2f}% of the FLOPs; the target is {goal:.2f}% ± {TOLERANCE:g}"
                for c, v in flops.items() if goal is not None and not abs(v - goal) <= TOLERANCE}
    on_target = cells[~cells["criterion"].isin(left_out)]
    schedules = sorted(set(on_target["schedule"]), key=order_key)
    seeds = sorted(set(on_target["seed"]), key=lambda s: (len(s), s))
    kept = _complete(on_target, schedules, seeds, left_out)
    if len(kept) < 2:
        raise ValueError(f"{len(kept)} criterion(s) can be ranked (a finished cell at every schedule and seed, on "
                         f"the FLOPs target); left out: {'; '.join(f'{c}: {w}' for c, w in left_out.items()) or 'none'}")
    cells = on_target[on_target["criterion"].isin(kept)]
    values = {s: _matrix(cells[cells["schedule"] == s], metric.column, kept, seeds) for s in schedules}
    before = _matrix(cells.drop_duplicates(["criterion", "seed"]), metric.pruned_column, kept, seeds)
    if np.isfinite(before).all():
        values[BEFORE] = before
    means = values[STANDARD if STANDARD in schedules else schedules[-1]].mean(axis=1)
    ranks = ranking.average_ranks(means, metric.higher_is_better)
    order = sorted(range(len(kept)), key=lambda i: (ranks[i], kept[i]))  # the board's rows: best first
    criteria = [kept[i] for i in order]
    table = ranking.Table(criteria, {k: v[order] for k, v in values.items()}, metric.higher_is_better, resamples, seed)
    linked = all("/" not in s for s in seeds)  # run r seeded its baseline, pruning and retraining alike
    return Leaderboard(metric, setting, criteria, schedules, seeds, table, cells.reset_index(drop=True), flops,
                       goal, left_out, frame, linked)


def _matrix(rows: pd.DataFrame, column: str, criteria: List[str], seeds: List[str]) -> np.ndarray:
    table = rows.pivot_table(index="criterion", columns="seed", values=column, aggfunc="first", dropna=False)
    return table.reindex(index=criteria, columns=seeds).to_numpy(dtype=float)


def load(roots: Sequence[Path], metric: Metric = TOP1, target: Optional[float] = None) -> Leaderboard:
    """Collect the records under ``roots`` (:func:`benchmark.report.collect.collect`) and build the board."""
    frame = collect(roots)
    if frame.empty:
        skipped = frame.attrs.get("skipped", [])
        where = ", ".join(map(str, roots))
        raise ValueError(f"{len(skipped)} record(s) under {where}, none readable as a cell" if skipped
                         else f"no records found under {where}: run the sweep first (make leaderboard)")
    return build(tidy(frame), metric, target)
