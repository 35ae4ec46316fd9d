"""The paper's three claims, each as seed-paired comparisons with a verdict.

A comparison puts one *arm* (a pruner and schedule) against a *reference* arm in one setting
(dataset, model, pruner, budget T). Its seeds pair (:func:`benchmark.report.paired.paired_differences`,
the suite's one pairing: run r's FT and CLR start from the same pruned weights), every pair gives
an advantage (:mod:`benchmark.report.metric`, positive when the arm is better), and the verdict
reads both the seeds (``holds in k/n seeds``) and the 95% bootstrap interval of the mean advantage
(:func:`benchmark.report.paired.bootstrap_interval`). Two kinds of claim:

- ``beats``: holds when the interval lies above zero; a seed counts when its advantage is > 0;
- ``matches or beats``: holds unless the interval lies below zero (no significant loss); a
  seed counts when its advantage is >= 0.

With one pair there is no interval and the verdict is ``undecided``; without a pair, ``missing``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np
import pandas as pd

from benchmark.report import grid, published
from benchmark.report.metric import Metric
from benchmark.report.paired import SEED_KEYS, bootstrap_interval, paired_differences

SCHEDULE_PRUNERS = ("l1", "mwp")  # claims 1 and 3: structured L1 and unstructured MWP
CHALLENGERS = ("lrw", "slr", "clr")
# (pruner name, schedule) pairs the claims need: the grid lists them as missing when absent.
REQUIRED = [(p, s) for p in SCHEDULE_PRUNERS for s in ("ft", *CHALLENGERS)] + [("random", "clr")]


@dataclass(frozen=True)
class Arm:
    pruner: str  # the tables' pruner label (name plus amount)
    schedule: str

    @property
    def label(self) -> str:
        return f"{self.pruner} + {self.schedule.upper()}"


@dataclass
class Comparison:
    """One row of a claim's table; ``pairs`` has one row per paired seed: ``seed``, ``arm``,
    ``reference`` (the two values), ``arm_href``, ``reference_href`` (where each came from: a
    record path, or ``#anchor`` of another comparison's row) and ``advantage``."""

    anchor: str
    setting: Dict[str, object]
    arm: str
    reference: str
    kind: str  # beats | matches or beats
    pairs: pd.DataFrame
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)  # the finished records of both arms
    absent: List[str] = field(default_factory=list)  # "run 2: CLR missing", ...

    @property
    def n(self) -> int:
        return len(self.pairs)

    def seed_holds(self) -> pd.Series:
        return self.pairs["advantage"] > 0 if self.kind == "beats" else self.pairs["advantage"] >= 0

    @property
    def interval(self) -> Tuple[float, float] | None:
        return bootstrap_interval(self.pairs["advantage"].to_numpy(float)) if self.n >= 2 else None

    @property
    def verdict(self) -> str:
        """holds | does not hold | undecided | missing."""
        if self.n == 0:
            return "missing"
        if self.interval is None:
            return "undecided"
        low, high = self.interval
        return "holds" if (low > 0 if self.kind == "beats" else high >= 0) else "does not hold"

    def verdict_text(self) -> str:
        if self.n == 0:
            return "missing: no seed has both arms"
        seeds = f"holds in {int(self.seed_holds().sum())}/{self.n} seeds"
        if self.interval is None:
            return f"{seeds}; one pair, no interval: undecided"
        low, high = self.interval
        excludes = "excludes 0" if low > 0 or high < 0 else "includes 0"
        return f"{seeds}; 95% interval [{low:+.2f}, {high:+.2f}] {excludes}: {self.verdict}"


@dataclass
class Claim:
    number: int
    title: str
    statement: str
    comparisons: List[Comparison]
    notes: List[str] = field(default_factory=list)

    def summary(self) -> str:
        counts = pd.Series([c.verdict for c in self.comparisons]).value_counts()
        parts = [f"{counts.get(v, 0)} {v}" for v in ("does not hold", "undecided", "missing") if counts.get(v, 0)]
        held = f"holds in {counts.get('holds', 0)}/{len(self.comparisons)} comparisons"
        return held + (f" ({', '.join(parts)})" if parts else "")


def _arm_cells(done: pd.DataFrame, setting: Dict[str, object], arm: Arm) -> pd.DataFrame:
    keys = {**setting, "pruner": arm.pruner, "schedule": arm.schedule}
    mask = np.logical_and.reduce([done[k] == v for k, v in keys.items()])
    return done[mask]


def compare(done: pd.DataFrame, absent: pd.DataFrame, metric: Metric, setting: Dict[str, object], arm: Arm,
            reference: Arm, kind: str, anchor: str) -> Comparison:
    """``arm`` against ``reference`` in ``setting`` over the seeds where both finished."""
    cells = {"arm": _arm_cells(done, setting, arm), "reference": _arm_cells(done, setting, reference)}
    both = pd.concat([part.assign(_arm=name) for name, part in cells.items()])
    diffs = paired_differences(both, "arm", "reference", columns="_arm", value=metric.column) if len(both) else pd.Series(dtype=float)
    pairs = pd.DataFrame({"seed": [grid.seed_label(s) for s in diffs.index]})
    columns = {"": metric.column, "_dense": metric.baseline_column, "_pruned": metric.pruned_column}
    for name, part in cells.items():
        indexed = part.drop_duplicates(SEED_KEYS).set_index(SEED_KEYS).reindex(diffs.index)
        for suffix, column in columns.items():
            pairs[name + suffix] = indexed[column].to_numpy(float)
        pairs[f"{name}_href"] = indexed["path"].to_list()
        pairs[f"{name}_cell"] = indexed["identity.cell"].to_list()
    pairs["advantage"] = metric.sign * diffs.to_numpy(float)
    gaps = [f"{row.seed}: {row.schedule.upper()} {row.status}" for row in absent.itertuples()
            if any(all(getattr(row, k) == v for k, v in {**setting, "pruner": a.pruner, "schedule": a.schedule}.items())
                   for a in (arm, reference))]
    return Comparison(anchor, setting, arm.label, reference.label, kind, pairs, both, sorted(set(gaps)))


def _settings(expected: pd.DataFrame, names: Tuple[str, ...], keys: List[str]) -> List[Dict[str, object]]:
    part = expected[expected["pruner_name"].isin(names)]
    return [dict(zip(keys, values)) for values in part[keys].drop_duplicates().sort_values(keys).itertuples(index=False)]


def claim_schedules(done: pd.DataFrame, absent: pd.DataFrame, expected: pd.DataFrame, metric: Metric) -> Claim:
    keys = ["dataset", "model", "pruner", "T"]
    rows = [compare(done, absent, metric, s, Arm(s["pruner"], c), Arm(s["pruner"], "ft"), "beats", f"c1-{i}-{c}")
            for i, s in enumerate(_settings(expected, SCHEDULE_PRUNERS, keys)) for c in CHALLENGERS]
    return Claim(1, "Schedules", "At an equal budget T, LRW, SLR and CLR each beat FT, after structured L1 pruning "
                 "and after unstructured magnitude weight pruning (MWP).", rows)


def claim_random(done: pd.DataFrame, absent: pd.DataFrame, expected: pd.DataFrame, metric: Metric) -> Claim:
    keys = ["dataset", "model", "pruner", "T"]
    rows = []
    for i, s in enumerate(_settings(expected, ("random",), keys)):
        l1 = str(s["pruner"]).replace("random", "l1", 1)  # the same widths: the L1 label of the same amount
        rows.append(compare(done, absent, metric, {k: v for k, v in s.items() if k != "pruner"},
                            Arm(str(s["pruner"]), "clr"), Arm(l1, "ft"), "matches or beats", f"c2-{i}"))
    return Claim(2, "Random pruning", "Random structured pruning (the same widths as L1) retrained with CLR matches "
                 "or beats L1 pruning retrained with FT, seed by seed, at every budget.", rows)


def published_gains(schedule: str) -> pd.DataFrame:
    """The paper's ``schedule`` - FT gap (points) per network and budget, from its published figure:
    columns model, variant, T, gap."""
    paper = published.load("cifar10_accuracy_change")
    table = paper.pivot_table(index=["model", "variant", "T"], columns="schedule", values="delta")
    return (table[schedule] - table["ft"]).rename("gap").reset_index()


def published_gaps() -> pd.DataFrame:
    """The paper's CLR - FT gap (points) per network and budget."""
    return published_gains("clr")


def budget_statement() -> Tuple[str, List[str]]:
    """What the published tables show about the gap against T, stated from the numbers."""
    lines, grows = [], []
    for (model, variant), part in published_gaps().groupby(["model", "variant"], sort=True):
        part = part.sort_values("T")
        first, last = part.iloc[0], part.iloc[-1]
        low, high = part.loc[part["gap"].idxmin()], part.loc[part["gap"].idxmax()]
        grows.append(last["gap"] > first["gap"])
        lines.append(f"{model}-{variant}: CLR - FT {first['gap']:+.2f} at T={first['T']}, {last['gap']:+.2f} at "
                     f"T={last['T']}; smallest {low['gap']:+.2f} at T={low['T']}, largest {high['gap']:+.2f} at T={high['T']}")
    which = "larger" if all(grows) else "not uniformly larger"
    statement = (f"CLR's advantage over FT is {which} at the largest budget than at the smallest: in the paper's "
                 f"CIFAR-10 tables (below) the gap grows with T{'' if all(grows) else ' in some networks only'}, "
                 "it is not largest at small budgets. Tested here: the gap at the largest budget run minus the "
                 "gap at the smallest, per seed, is positive.")
    return statement, lines


def claim_budget(done: pd.DataFrame, absent: pd.DataFrame, expected: pd.DataFrame, metric: Metric,
                 schedules: Claim) -> Claim:
    """The CLR - FT gap per budget (claim 1's CLR rows) and its change from the smallest budget to the largest."""
    statement, notes = budget_statement()
    by_setting: Dict[Tuple, List[Comparison]] = {}
    for row in schedules.comparisons:
        if row.arm.endswith("+ CLR"):
            by_setting.setdefault(tuple(row.setting[k] for k in ("dataset", "model", "pruner")), []).append(row)
    rows = []
    for i, (key, gaps) in enumerate(sorted(by_setting.items())):
        gaps = sorted(gaps, key=lambda c: c.setting["T"])
        small, large = gaps[0], gaps[-1]
        pairs = small.pairs.merge(large.pairs, on="seed", suffixes=("_small", "_large"))
        trend = pd.DataFrame({"seed": pairs["seed"], "arm": pairs["advantage_large"], "reference": pairs["advantage_small"],
                              "arm_href": "#" + large.anchor, "reference_href": "#" + small.anchor,
                              "advantage": pairs["advantage_large"] - pairs["advantage_small"]})
        single = ["one budget ran: the gap's change needs two"] if len(gaps) < 2 else []
        if single:
            trend = trend.iloc[:0]
        setting = dict(zip(("dataset", "model", "pruner"), key), T=f"{small.setting['T']} -> {large.setting['T']}")
        rows.append(Comparison(f"c3-{i}", setting, f"gap at T={large.setting['T']}", f"gap at T={small.setting['T']}",
                               "beats", trend, absent=single + sorted(set(small.absent + large.absent))))
    return Claim(3, "Budget", statement, rows, notes)


def evaluate(frame: pd.DataFrame, metric: Metric) -> Tuple[List[Claim], pd.DataFrame, pd.DataFrame]:
    """The three claims from a tidy frame, the expected grid, and its absent cells."""
    frame = frame.assign(**{c: pd.to_numeric(frame[c], errors="coerce") if c in frame else np.nan
                            for c in (metric.column, metric.baseline_column, metric.pruned_column)})
    expected = grid.expected_cells(frame, REQUIRED)
    absent = grid.absent_cells(frame, expected)
    done = frame[(frame["status"] == "finished") & frame[metric.column].notna()]
    schedules = claim_schedules(done, absent, expected, metric)
    claims = [schedules, claim_random(done, absent, expected, metric),
              claim_budget(done, absent, expected, metric, schedules)]
    return claims, expected, absent
