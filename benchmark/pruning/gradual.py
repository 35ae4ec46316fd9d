"""Gradual magnitude pruning (AGP, Zhu & Gupta 2017) during retraining.

Sparsity rises from ``initial_sparsity`` s_i to ``sparsity`` s_f between the steps t_0 and
t_0 + n dt (``start`` and ``end``, fractions of the retraining steps), every ``frequency`` = dt
steps, as s_t = s_f + (s_i - s_f) (1 - (t - t_0) / (n dt))^3: fast at first, while many weights
are redundant, slowly near the end. Each update masks the smallest weights still kept, shared
among layers by ``pruner.allocation`` (``unstructured.prune_to``), so masks only ever grow.
The masks are buffers of the model, so the per-epoch checkpoint holds them, and the update log
travels in the checkpoint with them: a killed cell resumes to the same masks. The schedule
(FT, LRW, SLR, CLR, ...) is untouched: AGP composes with every one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List

from torch import nn

from benchmark.errors import ConfigError
from benchmark.pruning.spec import PruningSpec
from benchmark.pruning.unstructured import prune_to, remaining_weights, weight_layers


def sparsity_at(step: int, initial: float, final: float, first: int, last: int) -> float:
    """s_t of Zhu & Gupta's eq. (1), with n dt = last - first; s_i before, s_f after."""
    if step <= first:
        return initial
    if step >= last:
        return final
    return final + (initial - final) * (1 - (step - first) / (last - first)) ** 3


def window(spec: PruningSpec, total_steps: int) -> tuple[int, int]:
    """(t_0, t_0 + n dt) in steps of this budget; the last step is the latest an update can run."""
    first, last = round(spec.start * total_steps), min(round(spec.end * total_steps), total_steps - 1)
    if last <= first:
        raise ConfigError(f"pruner.start={spec.start} and pruner.end={spec.end} cover no step of the "
                          f"{total_steps} retraining steps; widen them or lengthen the budget")
    return first, last


def update_steps(spec: PruningSpec, total_steps: int) -> List[int]:
    """t_0, t_0 + dt, ... before t_0 + n dt, and t_0 + n dt itself, where s_f is reached."""
    first, last = window(spec, total_steps)
    return list(range(first, last, spec.frequency)) + [last]


def validate(spec: PruningSpec) -> None:
    """What the config alone can get wrong (the step window needs the budget: :func:`window`)."""
    if spec.start >= spec.end:
        raise ConfigError(f"pruner.start={spec.start} must be below pruner.end={spec.end}")
    if not spec.initial_sparsity < spec.sparsity:
        raise ConfigError(f"pruner.initial_sparsity={spec.initial_sparsity} must be below pruner.sparsity={spec.sparsity}")
    if spec.rounds != 1:
        raise ConfigError(f"pruner.rounds={spec.rounds}: pruner=agp prunes gradually within one retraining; use rounds=1")


def final_spec(spec: PruningSpec) -> PruningSpec:
    """The one-shot pruner that leaves AGP's final counts (plan mode counts with it)."""
    return replace(spec, name="mwp") if spec.name == "agp" else spec


def initial_keep(model: nn.Module, spec: PruningSpec) -> int:
    """Weights kept at s_i, when retraining starts."""
    total = sum(remaining_weights(model, weight_layers(model, spec)).values())
    return total - round(spec.initial_sparsity * total)


class GradualPruning:
    """The per-step hook of ``benchmark.train.train``: at each update step, masks to s_t."""

    def __init__(self, model: nn.Module, spec: PruningSpec, seed: int, total_steps: int) -> None:
        self.model, self.spec, self.seed = model, spec, seed
        self.first, self.last = window(spec, total_steps)
        self.steps = set(update_steps(spec, total_steps))
        self.size = sum(m.weight.numel() for n, m in model.named_modules() if n in weight_layers(model, spec))
        self.updates: List[List[float]] = []  # [step, target s_t, achieved sparsity]

    def achieved(self) -> float:
        return 1.0 - sum(remaining_weights(self.model, weight_layers(self.model, self.spec)).values()) / self.size

    def __call__(self, step: int) -> None:
        if step not in self.steps:
            return
        target = sparsity_at(step, self.spec.initial_sparsity, self.spec.sparsity, self.first, self.last)
        prune_to(self.model, self.spec, self.seed, self.size - round(target * self.size))
        self.updates.append([step, target, self.achieved()])

    def after_step(self) -> None:
        """Nothing: the masks are parametrizations, applied in every forward."""

    def row(self) -> Dict[str, float]:
        """What each epoch's history row gains: the sparsity the masks hold at its end."""
        return {"sparsity": self.achieved()}

    def state_dict(self) -> Dict[str, Any]:
        return {"updates": self.updates}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.updates = [list(update) for update in state["updates"]]

    def summary(self) -> Dict[str, Any]:
        """The round record's ``gradual``: the window in steps and every update."""
        return {"gradual": {"start_step": self.first, "end_step": self.last, "frequency": self.spec.frequency,
                            "updates": self.updates}}
