"""Hydra's basic sweeper with exclusions: a grid that is a product minus named corners.

A study's grid is rarely a full product. The findings preset asks FT, LRW, SLR and CLR of L1 and
MWP, but of random pruning only FT and CLR (the paper's claim 2 compares random + CLR with
L1 + FT); the full product would train cells nobody reads. ``hydra.sweeper.exclude`` lists
partial assignments, and every cell matching all the keys of one entry is dropped before the
launcher sees it, so ``mode=plan``, the launchers and the tables see the same cells::

    hydra:
      sweeper:
        params: {pruner.name: "l1,mwp,random", schedule: "ft,lrw,slr,clr"}
        exclude:
          - {pruner.name: random, schedule: lrw}

Sweepers, like launchers, are instantiated from the ``hydra_plugins`` namespace package.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException


def _assignment(job: Sequence[str]) -> Dict[str, str]:
    """``["a=1", "+b=x"]`` -> ``{"a": "1", "b": "x"}``: a cell's overrides by key."""
    pairs = (override.split("=", 1) for override in job)
    return {key.lstrip("+~"): value for key, value in pairs}


def excluded(job: Sequence[str], rules: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the cell ``job`` matches every key of at least one rule."""
    cell = _assignment(job)
    return any(all(cell.get(key) == str(value) for key, value in rule.items()) for rule in rules)


class GridSweeper(BasicSweeper):
    """The basic sweeper, minus the cells that ``exclude`` names."""

    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 exclude: Optional[List[Mapping[str, Any]]] = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.exclude = [dict(rule) for rule in exclude or []]

    def split_arguments(self, overrides: List[Override], max_batch_size: Optional[int]) -> List[List[List[str]]]:
        jobs = BasicSweeper.split_arguments(overrides, None)[0]
        swept = {override.get_key_element().lstrip("+~") for override in overrides}
        for rule in self.exclude:
            unknown = sorted(set(rule) - swept)
            if unknown:  # a rule on a key nobody sweeps never matches: almost surely a typo
                raise HydraException(f"hydra.sweeper.exclude: {', '.join(unknown)} is not a key of this sweep")
        kept = [job for job in jobs if not excluded(job, self.exclude)]
        if not kept:
            raise HydraException("hydra.sweeper.exclude removes every cell of the sweep")
        if max_batch_size is None:
            return [kept]
        return list(BasicSweeper.split_overrides_to_chunks(kept, max_batch_size))
