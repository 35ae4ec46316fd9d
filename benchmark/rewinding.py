"""Rewinding to the baseline: its recorded learning rates (exact LRW) and its weights (WR).

The baseline records the rate every iteration actually ran at, run-length encoded (a step
recipe is three runs, a per-iteration cosine one run per iteration), so ``schedule=lrw
schedule.source=recorded`` replays the last T epochs exactly, whatever produced them.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from benchmark.errors import ConfigError


class LrTrace:
    """Per-iteration learning rates as ``[[lr, count], ...]`` runs: small for step recipes, exact for any."""

    def __init__(self, runs: Optional[Sequence[Sequence[float]]] = None) -> None:
        self.runs: List[List[float]] = [[float(lr), int(n)] for lr, n in (runs or [])]

    def add(self, lr: float) -> None:
        if self.runs and self.runs[-1][0] == lr:
            self.runs[-1][1] += 1
        else:
            self.runs.append([float(lr), 1])

    def __len__(self) -> int:
        return sum(int(n) for _, n in self.runs)

    def expand(self) -> List[float]:
        return [lr for lr, n in self.runs for _ in range(int(n))]


def recorded_tail(runs: Optional[Sequence[Sequence[float]]], epochs: int, steps_per_epoch: int,
                  baseline_epochs: int) -> List[float]:
    """The rates of the baseline's last T epochs, checked to be the same iteration grid as retraining."""
    if not runs:
        raise ConfigError("schedule.source=recorded needs a baseline that recorded its rates "
                          "(this cached baseline predates the recording; use schedule.source=recipe)")
    rates = LrTrace(runs).expand()
    if len(rates) != baseline_epochs * steps_per_epoch:
        raise ConfigError(f"the baseline recorded {len(rates)} iterations, not E x iterations per epoch = "
                          f"{baseline_epochs} x {steps_per_epoch}: its iterations do not align with retraining")
    return rates[len(rates) - epochs * steps_per_epoch:]
