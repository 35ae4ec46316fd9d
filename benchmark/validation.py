"""The one validation phase of a cell's config: every check that can fail without data, in order.

:func:`validate` is the only entry: it resolves the budget T, then runs :data:`CHECKS` in the
order listed, each a function ``(cfg, T) -> None`` that raises :class:`ConfigError` with one
line naming the bad value and what is allowed. A new group's checks are one line in that list
(docs/extending.md, "Where a new group's checks go"); the checks themselves stay beside what they
guard (a schedule's in :mod:`benchmark.retraining.schedules`, a pruner's in
:mod:`benchmark.pruning.spec`), and only this module calls them.

The first check is the schema's domains: each field that has one carries a
:class:`benchmark.fields.Domain` in its dataclass metadata (see ``benchmark.fields.ranged``).
:func:`check` walks the typed config, field by field, and fails on the first value outside
its domain with one line naming the key, the value and what is allowed. Bounds may name other
values, so milestones are checked against the epochs they fall in, and sizes against the data
(``data.train_images``: the training images before the validation split, known without
loading them). The checks after it are relations between settings: a dataset, model and
recipe written for the same data, a schedule that must rewind at most E epochs, a pruner's
layers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from omegaconf import DictConfig, OmegaConf

from benchmark.errors import ConfigError
from benchmark.fields import Domain
from benchmark.retraining import schedules
from benchmark.schema import BenchmarkConf
from benchmark.tasks import task_of
from benchmark.tracking import resolve_mode


def _typed(cfg: Any) -> Any:
    """The config as the schema's dataclass objects."""
    return OmegaConf.to_object(cfg) if isinstance(cfg, DictConfig) else cfg


def fields_with_domains(node: Any, prefix: str = "") -> Iterator[Tuple[str, Any, Domain]]:
    """(dotted key, value, domain) of every field of the typed config that has a domain."""
    for spec in dataclasses.fields(node):
        value = getattr(node, spec.name)
        if dataclasses.is_dataclass(value):
            yield from fields_with_domains(value, f"{prefix}{spec.name}.")
        elif "domain" in spec.metadata:
            yield f"{prefix}{spec.name}", value, spec.metadata["domain"]


def _derived(root: Any, epochs: int) -> Dict[str, Callable[[], Optional[float]]]:
    """Bounds that are not config values: the budget T and the size of the training data."""

    def train_images() -> Optional[float]:
        from benchmark.data import dataset_entry

        try:  # a dataset whose size needs its files (ImageNet folders) is checked when it loads
            return dataset_entry(root.dataset.name).full_train_size(root.dataset)
        except Exception:  # noqa: BLE001
            return None

    def after_val() -> Optional[float]:
        total = train_images()
        return None if total is None else total - root.dataset.val_size

    return {"T": lambda: epochs, "data.train_images": train_images, "data.train_after_val": after_val}


def _bound(bound: Any, root: Any, derived: Dict[str, Callable[[], Optional[float]]]) -> Tuple[Optional[float], str]:
    """A bound's number (None: unknown here) and how to print it."""
    if not isinstance(bound, str):
        return bound, "inf" if bound is None else _number(bound)
    if bound in derived:
        value = derived[bound]()
    else:
        value = root
        for part in bound.split("."):
            value = getattr(value, part)
    return value, bound if value is None else f"{bound}={_number(value)}"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _interval(domain: Domain, low: str, high: str) -> str:
    left = "(" if domain.low_open or domain.low is None else "["
    right = ")" if domain.high_open or domain.high is None else "]"
    return f"{left}{'-inf' if domain.low is None else low}, {high}{right}"


def _inside(value: float, domain: Domain, low: Optional[float], high: Optional[float]) -> bool:
    if not math.isfinite(value):
        return False
    above = low is None or (value > low if domain.low_open else value >= low)
    below = high is None or (value < high if domain.high_open else value <= high)
    return above and below


def problem(key: str, value: Any, domain: Domain, root: Any, derived: Dict[str, Callable[[], Optional[float]]]) -> Optional[str]:
    """The one-line error for a value outside its domain, or None."""
    if value is None:  # an optional setting left unset
        return None
    if domain.choices:
        return None if value in domain.choices else f"{key}={value!r} is not one of: {', '.join(domain.choices)}"
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    (low, low_text), (high, high_text) = _bound(domain.low, root, derived), _bound(domain.high, root, derived)
    allowed = _interval(domain, low_text, high_text)
    each = "each value " if isinstance(value, (list, tuple)) else ""
    if not all(_inside(float(v), domain, low, high) for v in values):
        return f"{key}={value} is outside its domain: {each}must lie in {allowed}"
    if domain.increasing and any(b <= a for a, b in zip(values, values[1:])):
        return f"{key}={value} must be strictly increasing, {each}in {allowed}"
    return None


def check(cfg: Any, epochs: int) -> None:
    """Raise :class:`ConfigError` on the first value outside its schema domain; ``epochs`` is
    the resolved budget T, the bound of milestones given in retraining epochs."""
    root = _typed(cfg)
    derived = _derived(root, epochs)
    found = list(fields_with_domains(root))
    relative = [isinstance(d.low, str) or isinstance(d.high, str) for _, _, d in found]
    # Plain ranges first: a bound that names another value is only meaningful once that value is.
    for key, value, domain in [f for f, r in zip(found, relative) if not r] + [f for f, r in zip(found, relative) if r]:
        message = problem(key, value, domain, root, derived)
        if message is not None:
            raise ConfigError(message)


# --- The phase: every check of a composed cell config, in the order it runs --------------------------


CHECKS: Tuple[Tuple[str, Callable[[BenchmarkConf, int], Any]], ...] = (
    # first: a config whose groups belong to different tasks (an image dataset with model=causal_lm) is one
    # line about its groups, before any check reads them as one task's
    ("pairing", lambda cfg, T: task_of(cfg).check_pairing(cfg)),  # the task's dataset, model, recipe and pruner
    ("task leaves", lambda cfg, T: task_of(cfg).refuse_ignored(cfg)),  # leaves the task never reads (benchmark.tasks)
    ("domains", check),  # every value against its schema domain (benchmark.fields.ranged, on each group's schema)
    ("tracking", lambda cfg, T: resolve_mode(cfg.wandb.mode)),  # wandb.mode (benchmark.tracking)
    ("not run", lambda cfg, T: task_of(cfg).refuse_unrun(cfg)),  # settings the task cannot run with their meaning
    ("schedule", lambda cfg, T: schedules.validate(cfg.schedule, cfg.recipe, T)),  # and the recipe
    ("task", lambda cfg, T: task_of(cfg).check(cfg, T)),  # what only the task's own settings can get wrong
)


def validate(cfg: BenchmarkConf) -> int:
    """Check every setting that can fail without data, in the order of :data:`CHECKS`, the same for
    every task (each task brings its own pairing, refusals and checks, :class:`benchmark.tasks.Task`);
    return the budget T in epochs. Raises :class:`ConfigError` (one line) on the first problem."""
    epochs = schedules.retrain_epochs(cfg.budget, cfg.recipe)  # the budget's unit first: checks bound by T
    for _, run_check in CHECKS:
        run_check(cfg, epochs)
    return epochs
