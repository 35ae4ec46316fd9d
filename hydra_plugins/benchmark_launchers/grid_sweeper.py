"""Hydra's basic sweeper with exclusions and attachments: a grid that is a product minus named
corners, whose options may carry keys of their own.

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

Some keys exist for one option only: ``pruner.frequency`` (steps between AGP's mask updates) is a
key of ``pruner=agp`` and not of ``pruner=mwp``, so a sweep ``pruner: agp,mwp`` cannot set it for
all cells. ``hydra.sweeper.attach`` appends overrides to the cells that match a partial
assignment, and to no other::

        attach:
          - {when: {pruner: agp}, set: {pruner.frequency: 20}}

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


def matches(job: Sequence[str], rule: Mapping[str, Any]) -> bool:
    """Whether the cell ``job`` has every key of ``rule`` at its value."""
    cell = _assignment(job)
    return all(cell.get(key) == str(value) for key, value in rule.items())


def excluded(job: Sequence[str], rules: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the cell ``job`` matches at least one rule."""
    return any(matches(job, rule) for rule in rules)


def attached(job: Sequence[str], attachments: Sequence[Mapping[str, Any]]) -> List[str]:
    """``job`` plus the ``set`` overrides of every attachment whose ``when`` it matches."""
    extra = [f"{key}={value}" for rule in attachments if matches(job, rule["when"])
             for key, value in rule["set"].items()]
    return [*job, *extra]


def _check_rules(name: str, rules: Sequence[Mapping[str, Any]], swept: set) -> None:
    """A rule on a key nobody sweeps never matches: almost surely a typo."""
    for rule in rules:
        unknown = sorted(set(rule) - swept)
        if unknown:
            raise HydraException(f"hydra.sweeper.{name}: {', '.join(unknown)} is not a key of this sweep")


def _attachment(rule: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    if set(rule) != {"when", "set"}:
        raise HydraException(f"hydra.sweeper.attach: each entry is {{when: {{key: value}}, set: {{key: value}}}}, "
                             f"not {dict(rule)}")
    return {"when": dict(rule["when"]), "set": dict(rule["set"])}


class GridSweeper(BasicSweeper):
    """The basic sweeper, minus the cells that ``exclude`` names, plus what ``attach`` adds."""

    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 exclude: Optional[List[Mapping[str, Any]]] = None,
                 attach: Optional[List[Mapping[str, Any]]] = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.exclude = [dict(rule) for rule in exclude or []]
        self.attach = [_attachment(rule) for rule in attach or []]

    def split_arguments(self, overrides: List[Override], max_batch_size: Optional[int]) -> List[List[List[str]]]:
        jobs = BasicSweeper.split_arguments(overrides, None)[0]
        swept = {override.get_key_element().lstrip("+~") for override in overrides}
        _check_rules("exclude", self.exclude, swept)
        _check_rules("attach", [rule["when"] for rule in self.attach], swept)
        kept = [attached(job, self.attach) for job in jobs if not excluded(job, self.exclude)]
        if not kept:
            raise HydraException("hydra.sweeper.exclude removes every cell of the sweep")
        if max_batch_size is None:
            return [kept]
        return list(BasicSweeper.split_overrides_to_chunks(kept, max_batch_size))
