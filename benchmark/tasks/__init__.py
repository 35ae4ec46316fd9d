"""Tasks: what one kind of learning problem brings to the one engine.

The engine (validation, stages, training loop, cell, plan) is written once; what differs between
image classification and causal language modelling is gathered behind :class:`Task`, chosen from
the dataset registry's family (``dataset=text`` is the text family, every other dataset an image
family). Each member answers one question the engine asks; the engine never asks "is this an LM?".

Today a task answers what enters its identities beyond the config (``fingerprints``) and the
numeric precision its loop runs at (``precision``). Both used to be branches on
``dataset.name == "text"`` inside :mod:`benchmark.identity`, which is why that module imported
the language-model package above it.
"""

from __future__ import annotations

from typing import Any, Dict, Protocol, Sequence, Tuple

from benchmark.errors import ConfigError
from benchmark.identity import Identity, identity, leaves

Fingerprints = Tuple[Dict[str, Any], Dict[str, Any]]  # (what the baseline hashes, what the pruned model hashes) beyond the config


class Task(Protocol):
    name: str  # image | text
    metric: str  # the record's headline metric: test_top1 (higher is better) | test_ppl (lower is better)
    compiles: bool  # whether the fast path may torch.compile its training forward

    def fingerprints(self, cfg: Any) -> Fingerprints:
        """The content of the files and callables a cell names (their paths are config leaves)."""

    def plan_fingerprints(self, cfg: Any) -> Fingerprints:
        """As :meth:`fingerprints`, for plan mode on a machine that may not hold the weights."""

    def precision(self, cfg: Any) -> str:
        """fp32 | bf16: what the cell trains and evaluates in, on the device that runs it."""

    def refuse_ignored(self, cfg: Any) -> None:
        """Raise :class:`ConfigError` (one line: the key, the value, why) when a config leaf this task
        never reads holds anything but its schema default: accepted, it would be ignored yet hashed into
        a new cache entry. Each task declares those leaves once, with the reason (its ``IGNORED``)."""


def refuse_ignored(cfg: Any, ignored: Sequence[Tuple[str, str]], defaults: Dict[str, Any], cells: str) -> None:
    """The first leaf of ``ignored`` (key, why) that ``cfg`` holds away from its default in
    ``defaults`` (the task's own schema sections), in one line naming it and why."""
    given, default = dict(leaves(cfg)), dict(leaves(defaults))
    for key, reason in ignored:
        if key in given and given[key] != default[key]:
            raise ConfigError(f"{key}={given[key]} is refused for {cells}, which never read it: "
                              f"{reason} (leave it at {default[key]})")


def task_of(cfg: Any) -> Task:
    """The task a config's dataset belongs to."""
    if cfg.dataset.name == "text":
        from benchmark.tasks.text import TEXT

        return TEXT
    from benchmark.tasks.image import IMAGE

    return IMAGE


def cell_identity(cfg: Any, retrain_epochs: int, plan: bool = False) -> Identity:
    """The three stage identities of the cell ``cfg`` describes, with its task's fingerprints and
    precision; in ``plan`` mode, names stand in for weights this machine does not hold."""
    task = task_of(cfg)
    try:
        fingerprints = task.fingerprints(cfg)
    except ConfigError:  # weights not on this machine: plan mode downloads nothing
        if not plan:
            raise
        fingerprints = task.plan_fingerprints(cfg)
    return identity(cfg, retrain_epochs, fingerprints=fingerprints, precision=task.precision(cfg))
