"""Pruners side by side under each schedule: the sparsity presets' question.

The comparison table (``tables.comparison``) reads a row as one pruner under every schedule.
``allocation_ablation`` and ``gradual_vs_oneshot`` ask the transposed question: at one sparsity,
one budget and one schedule, does the allocation (global, uniform, ERK, LAMP) or the regime
(AGP against one-shot) change the accuracy? This table answers it seed-paired: cells of one
seed share their baseline (``seed=linked``), so the difference of two pruners in one seed is
paired, as the schedules' are. The reference of a group is the one-shot global threshold
(``mwp s<x>``, Han et al.'s MWP) where the group has it, else the first pruner by name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import numpy as np
import pandas as pd

from benchmark.report.metric import TOP1, Metric
from benchmark.report.paired import by_seed, marked_mean, mean_sd
from benchmark.retraining.schedules import order_key

GROUP = ["dataset", "model", "T", "sparsity", "schedule"]
_ONE_SHOT_GLOBAL = re.compile(r"^mwp s[\d.]+$")


def reference(labels: List[str]) -> str:
    """The arm every other pruner of a group is compared with."""
    plain = [label for label in labels if _ONE_SHOT_GLOBAL.match(label)]
    return plain[0] if plain else sorted(labels)[0]


def _paired(seeds: pd.DataFrame, arm: str, ref: str, metric: Metric) -> str:
    """Mean of arm minus reference over the seeds where both ran, signed so that positive is better."""
    return marked_mean(metric.advantage(seeds[arm], seeds[ref]).dropna().to_numpy())


def pruner_comparison(frame: pd.DataFrame, metric: Metric = TOP1) -> pd.DataFrame:
    """One row per (dataset, model, T, sparsity, schedule, pruner) of the groups that hold two
    pruners or more: the mean ± sd over seeds, the reference and the seed-paired gain over it."""
    done = frame[frame["status"] == "finished"].copy()
    if "metric" in done:
        done = done[done["metric"] == metric.key]
    done["sparsity"] = done.get("config.pruner.sparsity", pd.Series(np.nan, index=done.index)).fillna(-1)
    rows = []
    for key_values, group in done.groupby(GROUP, sort=True):
        labels = sorted(set(group["pruner"]))
        if len(labels) < 2:
            continue
        ref, seeds = reference(labels), by_seed(group, columns="pruner", value=metric.column)
        for label in [ref, *[x for x in labels if x != ref]]:
            row = dict(zip(GROUP, key_values))
            row["sparsity"] = "" if row["sparsity"] == -1 else f"{row['sparsity']:g}"
            row["pruner"] = label
            row[metric.key] = mean_sd(group.loc[group["pruner"] == label, metric.column])
            row["reference"] = ref
            row["gain over reference"] = "" if label == ref else _paired(seeds, label, ref, metric)
            rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["_order"] = table["schedule"].map(order_key)
    return table.sort_values(["dataset", "model", "T", "sparsity", "_order"], kind="stable").drop(columns="_order")


def write_pruner_table(table: pd.DataFrame, out: Path, metric: Metric = TOP1) -> List[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "pruners.md", out / "pruners.csv", out / "pruners.tex"]
    text = [f"# {metric.title.replace('by schedule', 'by pruner')}", "",
            table.to_markdown(index=False, disable_numparse=True), "",
            "Pruners at one sparsity, budget T and schedule. Mean ± std over seeds (n). Gain over reference:",
            "the seed-paired mean of pruner minus reference (positive is better); `*` = its 95% bootstrap interval",
            "excludes 0. The reference is the one-shot global threshold (mwp) where the group has it.", ""]
    paths[0].write_text("\n".join(text))
    table.to_csv(paths[1], index=False)
    paths[2].write_text(table.to_latex(index=False))
    return paths
