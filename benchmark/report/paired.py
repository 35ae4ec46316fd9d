"""Seed-paired statistics shared by the tables, the pruner table and the report.

Cells of one seed share their pruned weights (``seed=linked``), so two arms' difference in one
seed is paired; every comparison of the suite pivots its cells by these seeds, takes the paired
differences, and marks a mean whose 95% percentile bootstrap interval excludes 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# A cell's seeds: cells that agree on all three are one run of the comparison.
SEED_KEYS = ["config.seed.baseline", "config.seed.prune", "config.seed.retrain"]


def mean_sd(values: pd.Series) -> str:
    """``mean ± sd (n=k)``; with one value no spread is printed, since none was measured."""
    if len(values) == 1:
        return f"{values.mean():.2f} (n=1)"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f} (n={len(values)})"


def bootstrap_interval(diffs: np.ndarray, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of paired differences."""
    rng = np.random.default_rng(seed)
    means = rng.choice(diffs, size=(resamples, len(diffs)), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def by_seed(group: pd.DataFrame, columns: str = "schedule", value: str = "metrics.test_top1") -> pd.DataFrame:
    """One row per seed (the seeds of baseline, pruning and retraining), one column per arm
    (``columns``' values): the pairing every seed-paired comparison of the report uses. Cells
    of one seed share their pruned weights (``seed=linked``), so their difference is paired."""
    return group.pivot_table(index=SEED_KEYS, columns=columns, values=value)


def paired_differences(group: pd.DataFrame, arm: str, reference: str, columns: str = "schedule",
                       value: str = "metrics.test_top1") -> pd.Series:
    """``arm`` minus ``reference`` per seed where both ran (empty when either never ran)."""
    seeds = by_seed(group, columns, value)
    if arm not in seeds or reference not in seeds:
        return pd.Series(dtype=float)
    return (seeds[arm] - seeds[reference]).dropna()


def marked_mean(diffs: np.ndarray) -> str:
    """``+1.23*``: the mean of paired differences, starred when its 95% bootstrap interval excludes
    0 (needs two pairs or more); empty when there is none."""
    if len(diffs) == 0:
        return ""
    low, high = bootstrap_interval(diffs) if len(diffs) >= 2 else (np.nan, np.nan)
    return f"{diffs.mean():+.2f}" + ("*" if low > 0 or high < 0 else "")
