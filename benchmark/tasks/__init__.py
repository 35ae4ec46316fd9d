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

from typing import Any, Callable, Dict, List, Protocol, Sequence, Tuple

import torch

from benchmark.errors import ConfigError
from benchmark.fastpath import precision as resolved_precision
from benchmark.identity import Identity, identity, leaves
from benchmark.tasks.text_checks import lm_groups

# A leaf read only under one option: (its key, or a section's prefix ending in "."; whether cfg reads it; why).
Unread = Tuple[str, Callable[[Any], bool], str]
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
        a new cache entry. Each task declares those leaves once, with the reason (its ``IGNORED``), and
        the leaves it reads only under one option (its ``UNREAD``, refused while that option is off)."""

    # The validation phase (benchmark.validation.CHECKS) calls these three in its one order.
    def check_pairing(self, cfg: Any) -> None:
        """The dataset, model, recipe and pruner groups are this task's, in one line naming the one that is not."""

    def refuse_unrun(self, cfg: Any) -> None:
        """A schedule or setting this task cannot run with its meaning, refused in one line naming it and why."""

    def check(self, cfg: Any, epochs: int) -> None:
        """What only this task's settings can get wrong, against each other and the budget ``epochs``."""

    # Plan mode (benchmark.plan): the task's counts and cost beside the plan every task shares.
    def plan_counts(self, cfg: Any, epochs: int, ident: Identity) -> Dict[str, Any]:
        """Counts, ``rounds``, ``baseline_epochs``, ``steps_per_epoch`` and what the cost needs."""

    def plan_lines(self, plan: Dict[str, Any]) -> List[str]:
        """The plan's count lines, as text."""

    def describe_cost(self, plan: Dict[str, Any]) -> str:
        """What the plan's stages still to compute cost, in one line."""


def device_precision(cfg: Any) -> str:
    """What a cell trains and evaluates in, whatever its task: bf16 autocast under ``fast`` where the
    device runs it natively (or when forced), else fp32 (:func:`benchmark.fastpath.precision`)."""
    from benchmark.device import resolve_device

    try:  # an explicit device needs no GPU here: plan mode on a login node names the job's cells
        device = torch.device(cfg.device)
    except RuntimeError:  # auto, or a bad name (a one-line error)
        device = resolve_device(cfg.device)
    return resolved_precision(device, cfg.fast, cfg.precision)


def refuse_ignored(cfg: Any, ignored: Sequence[Tuple[str, str]], cells: str) -> None:
    """The first leaf of ``ignored`` (key, why) that ``cfg`` holds away from its schema default
    (:func:`_schema_default`), in one line naming it and why."""
    given = dict(leaves(cfg))
    for key, reason in ignored:
        if key in given and given[key] != (default := _schema_default(cfg, key)):
            raise ConfigError(f"{key}={given[key]} is refused for {cells}, which never read it: "
                              f"{reason} (leave it at {default})")


def dataset_task(dataset: str) -> str:
    """The name of the task a dataset's cells belong to: ``text`` for the text corpora, ``image`` for
    every other dataset. The one rule; the reports read a record's task by it, from its config."""
    return "text" if dataset == "text" else "image"


# What every task's recipe reads only under one of its options (each task's refuse_ignored checks them).
RECIPE_UNREAD: Tuple[Unread, ...] = (
    ("recipe.betas", lambda c: c.recipe.optimizer == "adamw",
     "only recipe.optimizer=adamw has betas (sgd's momentum is recipe.momentum)"),
    ("recipe.min_lr", lambda c: c.recipe.shape == "cosine", "only recipe.shape=cosine decays to a floor"),
)


def refuse_unread(cfg: Any, unread: Sequence[Unread]) -> None:
    """The first leaf of ``unread`` that ``cfg`` holds away from its schema default while the option that
    reads it is off, in one line naming it and why: accepted, it would be ignored yet hashed into a new
    cache entry (``pruner.blocksize`` under Wanda, ``retrain.lora.rank`` without LoRA)."""
    given = dict(leaves(cfg))
    for key, read, why in unread:
        if read(cfg):
            continue
        for leaf, value in given.items():
            if leaf == key or (key.endswith(".") and leaf.startswith(key)):
                default = _schema_default(cfg, leaf)
                if value != default:
                    raise ConfigError(f"{leaf}={value} is refused: {why}, so this cell never reads it "
                                      f"(leave it at {default})")


def _schema_default(cfg: Any, leaf: str) -> Any:
    """The default a leaf has in its section's own schema (the composed node's dataclass)."""
    section, *path = leaf.split(".")
    node = type(getattr(cfg, section))()
    for part in path:  # a dict field's keys (dataset.split_names.test) have no default: None
        node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
    return node


def task_of(cfg: Any) -> Task:
    """The task a config belongs to: its dataset's (:func:`dataset_task`), or text when any group is a
    language-model one (so a config mixing the two is refused by the text task's pairing check, naming
    the groups it saw)."""
    if dataset_task(cfg.dataset.name) == "text" or lm_groups(cfg):
        from benchmark.tasks.text import TEXT

        return TEXT
    from benchmark.tasks.image import IMAGE

    return IMAGE


def task_named(name: str) -> Task:
    """The task of that name (a plan or record names its task)."""
    from benchmark.tasks.image import IMAGE
    from benchmark.tasks.text import TEXT

    return {task.name: task for task in (IMAGE, TEXT)}[name]


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
