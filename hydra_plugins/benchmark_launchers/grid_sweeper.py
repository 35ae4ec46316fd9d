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

A rule that can never match is refused, in one line, before anything runs: a key the sweep does
not have, or a value it never takes (``random`` misspelt would otherwise train the very cells it
was meant to drop). A value that the preset's ``params`` list but the command line narrowed away
(``+experiment=findings_small pruner.name=mwp``) is not a typo, and is accepted.

Sweepers, like launchers, are instantiated from the ``hydra_plugins`` namespace package.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import OmegaConf

from benchmark.errors import ConfigError, exit_on

Rule = Dict[str, str]  # a partial assignment: key -> value, as the cell's overrides spell it
Attachment = Dict[str, Rule]  # {"when": Rule, "set": Rule}


def _assignment(job: Sequence[str]) -> Dict[str, str]:
    """``["a=1", "+b=x"]`` -> ``{"a": "1", "b": "x"}``: a cell's overrides by key."""
    pairs = (override.split("=", 1) for override in job)
    return {key.lstrip("+~"): value for key, value in pairs}


def matches(job: Sequence[str], rule: Mapping[str, Any]) -> bool:
    """Whether the cell ``job`` has every key of ``rule`` at its value."""
    cell = _assignment(job)
    return all(cell.get(key) == _text(value) for key, value in rule.items())


def excluded(job: Sequence[str], rules: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the cell ``job`` matches at least one rule."""
    return any(matches(job, rule) for rule in rules)


def attached(job: Sequence[str], attachments: Sequence[Mapping[str, Any]]) -> List[str]:
    """``job`` plus the ``set`` overrides of every attachment whose ``when`` it matches."""
    extra = [f"{key}={_text(value)}" for rule in attachments if matches(job, rule["when"])
             for key, value in rule["set"].items()]
    return [*job, *extra]


# --- reading the rules: each malformed entry is one line naming it --------------------------------

def _text(value: Any) -> str:
    """A YAML scalar as Hydra spells it in an override (``true``, ``null``, ``0.5``)."""
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


def _show(entry: Any) -> str:
    """An entry as it would be written in YAML flow style: ``{pruner.name: random}``."""
    if isinstance(entry, Mapping):
        return "{" + ", ".join(f"{key}: {_show(value)}" for key, value in entry.items()) + "}"
    if isinstance(entry, (list, tuple)):
        return "[" + ", ".join(_show(value) for value in entry) + "]"
    return _text(entry)


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _partial_assignment(where: str, entry: Any, node: Any) -> Rule:
    """``node`` as {key: scalar}; ``where`` and ``entry`` name it in the error."""
    if not isinstance(node, Mapping) or not node:
        raise ConfigError(f"{where}: entry {_show(entry)} is not a partial assignment; "
                          "write {key: value, ...}, e.g. {pruner.name: random, schedule: lrw}")
    for key, value in node.items():
        if isinstance(value, (Mapping, list, tuple)):
            raise ConfigError(f"{where}: entry {_show(entry)} gives {key} the value {_show(value)}; "
                              "each key takes one value (one entry per value to drop several)")
    return {str(key): _text(value) for key, value in node.items()}


def exclusions(entries: Optional[Sequence[Any]]) -> List[Rule]:
    """``hydra.sweeper.exclude`` checked: a list of partial assignments."""
    return [_partial_assignment("hydra.sweeper.exclude", entry, entry) for entry in _plain(entries) or []]


def attachments(entries: Optional[Sequence[Any]]) -> List[Attachment]:
    """``hydra.sweeper.attach`` checked: a list of {when: partial assignment, set: overrides}."""
    checked = []
    for entry in _plain(entries) or []:
        if not isinstance(entry, Mapping) or set(entry) != {"when", "set"}:
            raise ConfigError(f"hydra.sweeper.attach: each entry is {{when: {{key: value}}, set: {{key: value}}}}, "
                              f"not {_show(entry)}")
        checked.append({part: _partial_assignment(f"hydra.sweeper.attach ({part})", entry, entry[part])
                        for part in ("when", "set")})
    return checked


# --- checking the rules against the sweep -----------------------------------------------------------

def swept_values(jobs: Sequence[Sequence[str]]) -> Dict[str, List[str]]:
    """Each key of the sweep and the values its cells take, in sweep order."""
    values: Dict[str, List[str]] = {}
    for job in jobs:
        for key, value in _assignment(job).items():
            if value not in values.setdefault(key, []):
                values[key].append(value)
    return values


def _check(name: str, rule: Rule, values: Mapping[str, Sequence[str]], declared: Mapping[str, Sequence[str]]) -> None:
    """A rule that can never match is a typo: a key the sweep lacks or a value it never takes."""
    for key, value in rule.items():
        if key not in values:
            raise ConfigError(f"hydra.sweeper.{name}: {key} is not a key of this sweep (entry {_show(rule)}); "
                              f"its keys: {', '.join(values)}")
        if value not in values[key] and value not in declared.get(key, ()):
            raise ConfigError(f"hydra.sweeper.{name}: {key}={value} is not a value of this sweep "
                              f"(entry {_show(rule)}); {key} takes: {', '.join(values[key])}")


def cells(jobs: Sequence[Sequence[str]], exclude: Sequence[Rule], attach: Sequence[Attachment],
          declared: Optional[Mapping[str, Sequence[str]]] = None) -> List[List[str]]:
    """The sweep's cells: the product ``jobs`` minus the excluded ones, each with its attachments.

    ``declared`` holds the values the preset's ``params`` list for each key; a rule may name one
    of them even when the command line narrowed it out of the sweep."""
    values = swept_values(jobs)
    for rule in exclude:
        _check("exclude", rule, values, declared or {})
    for rule in attach:
        _check("attach", rule["when"], values, declared or {})
    kept = [attached(job, attach) for job in jobs if not excluded(job, exclude)]
    if not kept:
        raise ConfigError(f"hydra.sweeper.exclude removes every cell of the sweep (all {len(jobs)}): "
                          f"{', '.join(_show(rule) for rule in exclude)}")
    return kept


def _values(overrides: Sequence[Override]) -> Dict[str, List[str]]:
    """Each key of parsed overrides and the values it lists."""
    values = {}
    for override in overrides:
        key = override.get_key_element().lstrip("+~")
        if override.is_discrete_sweep():
            values[key] = list(override.sweep_string_iterator())
        elif not override.is_sweep_override():
            values[key] = [override.get_value_element_as_str()]
    return values


class GridSweeper(BasicSweeper):
    """The basic sweeper, minus the cells that ``exclude`` names, plus what ``attach`` adds."""

    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 exclude: Optional[List[Mapping[str, Any]]] = None,
                 attach: Optional[List[Mapping[str, Any]]] = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.exclude, self.attach = exclude, attach  # checked in split_arguments, where errors are one line
        self.declared: Dict[str, List[str]] = {}

    def sweep(self, arguments: List[str]) -> Any:
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        self.declared = _values(parser.parse_overrides(self._parse_config()))
        return super().sweep(arguments)

    def split_arguments(self, overrides: List[Override], max_batch_size: Optional[int]) -> List[List[List[str]]]:
        jobs = BasicSweeper.split_arguments(overrides, None)[0]
        try:
            kept = cells(jobs, exclusions(self.exclude), attachments(self.attach), self.declared)
        except ConfigError as error:  # raised inside Hydra, it would print a traceback
            exit_on(error)
        if max_batch_size is None:
            return [kept]
        return list(BasicSweeper.split_overrides_to_chunks(kept, max_batch_size))
