"""The grid a findings sweep should have filled, and which of its cells no record fills.

The report is made from records alone, so the grid is inferred from them and from what the
claims need: within each (dataset, model), every pruner seen or required, crossed with its
schedules (seen or required), every budget T seen and every seed seen. A cell of that grid
without a finished record is *missing* (no record at all) or *not finished* (diverged, failed,
still running); the report lists each one, so a gap in a claim's table is never silent.
"""

from __future__ import annotations

from typing import Iterable, List, Tuple

import pandas as pd

from benchmark.report.paired import SEED_KEYS

SETTING = ["dataset", "model"]
CELL = ["dataset", "model", "pruner", "pruner_name", "schedule", "T", *SEED_KEYS]


def seed_label(seeds: Tuple) -> str:
    """``run r`` when baseline, pruning and retraining share the seed (``seed=linked``), else all three."""
    values = [int(s) for s in seeds]
    return f"run {values[0]}" if len(set(values)) == 1 else "seeds " + "/".join(map(str, values))


def with_pruner_name(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(pruner_name=frame["config.pruner.name"])


def expected_cells(frame: pd.DataFrame, required: Iterable[Tuple[str, str]]) -> pd.DataFrame:
    """Every cell the grid expects, one row each (``CELL`` columns), from a tidy frame.
    ``required``: (pruner name, schedule) pairs the claims need, whether or not any ran."""
    frame = with_pruner_name(frame)
    required = sorted(set(required))
    rows: List[dict] = []
    for (dataset, model), part in frame.groupby(SETTING, sort=True):
        budgets = sorted(int(t) for t in part["T"].dropna().unique())
        seeds = sorted(set(part[SEED_KEYS].dropna().itertuples(index=False, name=None)))
        arms = set(zip(part["pruner"], part["pruner_name"], part["schedule"]))
        labels = part.groupby("pruner_name")["pruner"].unique()  # a required pruner takes its runs' labels
        arms |= {(label, name, schedule) for name, schedule in required
                 for label in (labels[name] if name in labels else [name])}
        for pruner, name, schedule in sorted(arms):
            rows += [dict(zip(CELL, (dataset, model, pruner, name, schedule, t, *seed))) for t in budgets for seed in seeds]
    return pd.DataFrame(rows, columns=CELL)


def absent_cells(frame: pd.DataFrame, expected: pd.DataFrame) -> pd.DataFrame:
    """The expected cells without a finished record, each with ``status`` (``missing`` when no
    record exists, else the record's) and ``path`` (the record's, when there is one)."""
    frame = with_pruner_name(frame)
    present = frame.dropna(subset=["T"]).assign(T=lambda f: f["T"].astype(int))
    present = present.sort_values("status", key=lambda s: s != "finished", kind="stable")
    present = present.drop_duplicates(CELL)[CELL + ["status", "path"]]
    merged = expected.merge(present, on=CELL, how="left")
    merged["status"] = merged["status"].fillna("missing")
    absent = merged[merged["status"] != "finished"].reset_index(drop=True)
    absent["seed"] = [seed_label(s) for s in absent[SEED_KEYS].itertuples(index=False, name=None)]
    return absent
