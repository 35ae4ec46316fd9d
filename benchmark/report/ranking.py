"""The leaderboard's statistics: ranks, Kendall's tau-b, and their bootstrap over seeds.

Everything here is numpy on a table of criteria x seeds per schedule (higher or lower is better,
:class:`benchmark.report.metric.Metric`). The seeds are linked (``seed=linked``: run r seeds the
baseline, the pruning and the retraining of every criterion with r), so one bootstrap resample
draws *seeds*, with replacement, and takes the same seeds for every criterion and every schedule:
ranks, taus, differences and spreads of one resample are all paired. Resampling is seeded, so the
same records give the same intervals.

Means are rounded to :data:`DECIMALS` before they are compared, so two criteria with the same
accuracies tie whatever order the floating-point sums ran in. Ties get the average of the ranks
they span (rank 1 is the best), and tau is Kendall's tau-b, which corrects for ties on either side:

    tau_b = sum_{i,j} sign(x_i - x_j) sign(y_i - y_j) / sqrt(sum sign(x_i - x_j)^2 * sum sign(y_i - y_j)^2)

(undefined, NaN, when either ranking ties everything). The point estimate is scipy's
``kendalltau`` (variant b) where scipy is installed; the bootstrap uses the vectorised form above,
which equals it (tests/test_leaderboard.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

DECIMALS = 9  # accuracies are percentages: differences below 1e-9 points are rounding, not a ranking
RESAMPLES = 10_000
SEED = 0
Interval = Optional[Tuple[float, float]]


def _rounded(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """The values as "larger is better", rounded so that equal accuracies compare equal."""
    rounded = np.round(np.asarray(values, dtype=float), DECIMALS)
    return rounded if higher_is_better else -rounded


def average_ranks(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Rank of each entry along the last axis (1 = best), ties sharing the average of their ranks:
    1 + (entries strictly better) + (other entries equal) / 2."""
    v = _rounded(values, higher_is_better)
    better = (v[..., None, :] > v[..., :, None]).sum(axis=-1)
    equal = (v[..., None, :] == v[..., :, None]).sum(axis=-1) - 1
    return 1.0 + better + equal / 2.0


def tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between ``x`` and ``y`` along the last axis (any leading axes: resamples);
    NaN where either side is constant."""
    x, y = _rounded(x), _rounded(y)
    sx = np.sign(x[..., :, None] - x[..., None, :])
    sy = np.sign(y[..., :, None] - y[..., None, :])
    numerator = (sx * sy).sum(axis=(-2, -1))
    denominator = np.sqrt((sx * sx).sum(axis=(-2, -1)) * (sy * sy).sum(axis=(-2, -1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two rankings' values: scipy's where installed, else :func:`tau_b`."""
    x, y = _rounded(np.asarray(x)), _rounded(np.asarray(y))
    try:
        from scipy.stats import kendalltau
    except ImportError:
        return float(tau_b(x, y))
    if len(set(x.tolist())) < 2 or len(set(y.tolist())) < 2:
        return float("nan")  # scipy warns and returns NaN on a constant side; say so without the warning
    return float(kendalltau(x, y, variant="b").statistic)


def seed_resamples(seeds: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """``resamples`` x ``seeds`` indices of seeds drawn with replacement, from a fixed generator."""
    return np.random.default_rng(seed).integers(0, seeds, size=(resamples, seeds))


def resampled_means(values: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Means over each resample's seeds: ``values`` (criteria x seeds) -> resamples x criteria."""
    return values[:, draws].mean(axis=-1).T


def interval(samples: np.ndarray) -> Interval:
    """The 95% percentile interval of the finite samples; None when there are none."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return None
    return float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))


def excludes_zero(bounds: Interval) -> int:
    """+1 when the interval lies above 0, -1 below, 0 when it holds 0 (or there is none)."""
    if bounds is None:
        return 0
    return 1 if bounds[0] > 0 else -1 if bounds[1] < 0 else 0


@dataclass(frozen=True)
class Standing:
    """One criterion under one schedule."""

    mean: float
    sd: float
    rank: float
    held: float  # fraction of the resamples in which it holds exactly this rank


@dataclass(frozen=True)
class Tau:
    first: str
    second: str
    tau: float
    bounds: Interval
    valid: int  # resamples where tau was defined (neither ranking all tied)


@dataclass(frozen=True)
class Difference:
    """A seed-paired advantage (positive: the first is better) with its interval."""

    mean: float
    bounds: Interval

    @property
    def sign(self) -> int:
        return excludes_zero(self.bounds)


@dataclass(frozen=True)
class Flip:
    """``winner`` beats ``loser`` under the first schedule, and loses to it under the second,
    each significantly (the paired interval excludes 0 on both sides)."""

    winner: str
    loser: str
    first: Difference
    second: Difference


@dataclass(frozen=True)
class Spread:
    """Best minus worst criterion mean under one schedule (always >= 0)."""

    best: str
    worst: str
    value: float
    bounds: Interval


class Table:
    """Criteria x seeds per schedule (and before retraining), with the resamples they share."""

    def __init__(self, criteria: Sequence[str], values: Dict[str, np.ndarray], higher_is_better: bool = True,
                 resamples: int = RESAMPLES, seed: int = SEED) -> None:
        self.criteria, self.higher = list(criteria), higher_is_better
        self.values = {name: np.asarray(v, dtype=float) for name, v in values.items()}
        shapes = sorted({v.shape for v in self.values.values()})
        if len(shapes) != 1 or len(shapes[0]) != 2 or shapes[0][0] != len(criteria) or shapes[0][1] < 1:
            raise ValueError(f"every schedule needs one {len(criteria)} criteria x seeds table, got shapes {shapes}")
        self.seeds = shapes[0][1]
        self.draws = seed_resamples(self.seeds, resamples, seed)
        self._boot = {name: resampled_means(v, self.draws) for name, v in self.values.items()}

    def means(self, name: str) -> np.ndarray:
        return self.values[name].mean(axis=1)

    def advantage(self, values: np.ndarray) -> np.ndarray:
        return values if self.higher else -values

    def standings(self, name: str) -> List[Standing]:
        """Mean, sd, rank and how often each criterion holds its rank over the resamples."""
        values, ranks = self.values[name], average_ranks(self.means(name), self.higher)
        boot = average_ranks(self._boot[name], self.higher)
        sds = values.std(axis=1, ddof=1) if self.seeds > 1 else np.full(len(values), np.nan)
        held = (boot == ranks[None, :]).mean(axis=0)
        return [Standing(float(m), float(s), float(r), float(h))
                for m, s, r, h in zip(values.mean(axis=1), sds, ranks, held)]

    def tau(self, first: str, second: str) -> Tau:
        boot = tau_b(self._boot[first], self._boot[second])
        return Tau(first, second, kendall_tau(self.means(first), self.means(second)), interval(boot),
                   int(np.isfinite(boot).sum()))

    def taus(self, names: Sequence[str]) -> List[Tau]:
        return [self.tau(a, b) for a, b in combinations(names, 2)]

    def difference(self, name: str, first: int, second: int) -> Difference:
        """Criterion ``first`` minus ``second`` under ``name``, paired by seed (positive: better)."""
        diffs = self.advantage(self.values[name][first] - self.values[name][second])
        boot = self.advantage(self._boot[name][:, first] - self._boot[name][:, second])
        return Difference(float(diffs.mean()), interval(boot))

    def flips(self, first: str, second: str) -> List[Flip]:
        """Pairs whose order under ``first`` reverses under ``second``, significant on both sides."""
        found = []
        for a, b in combinations(range(len(self.criteria)), 2):
            one, two = self.difference(first, a, b), self.difference(second, a, b)
            if one.sign * two.sign == -1:
                winner, loser = (a, b) if one.sign > 0 else (b, a)
                flip_one, flip_two = (one, two) if one.sign > 0 else (self.difference(first, b, a),
                                                                      self.difference(second, b, a))
                found.append(Flip(self.criteria[winner], self.criteria[loser], flip_one, flip_two))
        return found

    def _spreads(self, name: str) -> np.ndarray:
        boot = self.advantage(self._boot[name])
        return boot.max(axis=1) - boot.min(axis=1)

    def spread(self, name: str) -> Spread:
        """Best minus worst mean, with the percentile interval of the resampled spread."""
        means = self.advantage(self.means(name))
        ranks = average_ranks(self.means(name), self.higher)
        best = self.criteria[int(np.lexsort((np.arange(len(ranks)), ranks))[0])]
        worst = self.criteria[int(np.lexsort((np.arange(len(ranks)), -ranks))[0])]
        return Spread(best, worst, float(np.round(means.max() - means.min(), DECIMALS)), interval(self._spreads(name)))

    def spread_change(self, reference: str, name: str) -> Difference:
        """Spread under ``name`` minus under ``reference``, paired by resample (negative: compressed)."""
        return Difference(self.spread(name).value - self.spread(reference).value,
                          interval(self._spreads(name) - self._spreads(reference)))

    def gap_to_best(self, name: str, criterion: str) -> Tuple[str, Difference]:
        """The observed best criterion under ``name`` and its seed-paired advantage over ``criterion``
        (0 when ``criterion`` is the best)."""
        ranks = average_ranks(self.means(name), self.higher)
        best = int(np.lexsort((np.arange(len(ranks)), ranks))[0])
        return self.criteria[best], self.difference(name, best, self.criteria.index(criterion))
