"""How a retraining schedule derives from the recipe, in words with its numbers (plan mode).

Plan mode prints the lr of every epoch; these lines say where those rates come from, so a
reader can check a non-step recipe (cosine, AdamW) against docs/schedules.md.
"""

from __future__ import annotations

from typing import Callable, Dict, List

from benchmark.retraining import schedules
from benchmark.retraining.optimizers import has_momentum, recipe_momentum
from benchmark.retraining.schema import RecipeConf, ScheduleConf



def describe_recipe(recipe: RecipeConf) -> str:
    """The original recipe in one line: optimizer, momentum, shape, warm-up."""
    momentum = f"beta1 {recipe.betas[0]:g}" if recipe.optimizer == "adamw" else f"momentum {recipe.momentum:g}"
    if recipe.shape == "step":
        shape = f"lr {recipe.lr:g} x{recipe.gamma:g} at epochs {list(recipe.milestones)} (per epoch)"
    else:
        shape = f"lr {recipe.lr:g} {recipe.shape} to {recipe.min_lr:g} (per iteration)"
    warm = f", linear warm-up {recipe.warmup_epochs} epochs" if recipe.warmup_epochs else ""
    return (f"{recipe.optimizer} ({momentum}, weight decay {recipe.weight_decay:g}), {recipe.epochs} epochs, "
            f"{shape}{warm}")


def _momentum(schedule: ScheduleConf, recipe: RecipeConf) -> str:
    name = "beta1" if recipe.optimizer == "adamw" else "momentum"
    if schedule.name == "clr" and schedule.cycle_momentum and has_momentum(recipe):
        return f"{name} cycled {schedule.max_momentum:g} -> {schedule.base_momentum:g} -> {schedule.max_momentum:g}"
    return f"{name} {recipe_momentum(recipe):g} (the recipe's)"


def _ft(s: ScheduleConf, r: RecipeConf, t: int) -> str:
    if s.lr is not None:
        return f"FT: constant lr {s.lr:g} (given)"
    return f"FT: constant lr_orig(E - 1) = {schedules.final_original_lr(r):g}, the recipe's final rate"


def _lrw(s: ScheduleConf, r: RecipeConf, t: int) -> str:
    source = ("the baseline's recorded per-iteration rates of its last T epochs"
              if s.name == "lrw" and s.source == "recorded" else f"lr_orig(E - T + t), t from 0: epochs {r.epochs - t}..{r.epochs}")
    weights = "; weights reset to the baseline's epoch E - T on the surviving filters" if s.name == "wr" else ""
    return f"{s.name.upper()}: {source}{weights}"


def _slr(s: ScheduleConf, r: RecipeConf, t: int) -> str:
    w = int(s.warmup_fraction * t)
    after = (f"drops x{r.gamma:g} at epochs {schedules.slr_drop_epochs(t, s, r)}" if r.shape == "step"
             else f"the recipe's {r.shape} compressed into the last {t - w} epochs")
    return (f"SLR: cosine warm-up over {w} epochs from lr_orig(E - 1) = {schedules.final_original_lr(r):g} to "
            f"max lr {schedules.max_original_lr(r):g}, then {after}")


def _clr(s: ScheduleConf, r: RecipeConf, t: int) -> str:
    peak = schedules.clr_max_lr(t, s, r)
    return (f"CLR: 1-cycle per iteration, {s.pct_start:g} of it rising from {peak / s.div_factor:g} to max lr "
            f"{peak:g} ({s.max_lr_rule}), {s.anneal} down to {peak / s.div_factor / s.final_div_factor:g}")


def _budget_aware(s: ScheduleConf, r: RecipeConf, t: int) -> str:
    peak = ("decided after pruning: clip(d / sqrt(s) x {0:g}, {1:g}, {0:g})".format(
        schedules.max_original_lr(r), min(t / r.epochs, 1.0) * schedules.max_original_lr(r))
        if s.name == "allr" else f"{schedules.max_original_lr(r) if s.peak_lr is None else s.peak_lr:g}")
    warm = f"cosine warm-up from 0 over {s.warmup_fraction:g} of the iterations, then " if s.warmup_fraction else ""
    return f"{s.name.upper()}: {warm}{schedules.BUDGET_AWARE[s.name]} decay to 0 per iteration; peak {peak}"


def _scratch(s: ScheduleConf, r: RecipeConf, t: int) -> str:
    length = "E epochs" if s.name == "scratch_e" else "round(E x FLOPs_dense / FLOPs_pruned) epochs (not T)"
    return f"{s.name}: fresh initialisation, the recipe stretched to {length}, milestones and warm-up scaled"


def _step(s: ScheduleConf, r: RecipeConf, t: int) -> str:
    return f"step: lr {s.lr:g} x{s.gamma:g} at epochs {list(s.milestones)} and fractions {list(s.milestone_fractions)} of T"


_DESCRIBE: Dict[str, Callable[[ScheduleConf, RecipeConf, int], str]] = {
    "original": lambda s, r, t: "the recipe itself", "ft": _ft, "lrw": _lrw, "wr": _lrw, "slr": _slr, "clr": _clr,
    "llr": _budget_aware, "allr": _budget_aware, "cosine": _budget_aware, "rex": _budget_aware,
    "scratch_e": _scratch, "scratch_b": _scratch, "step": _step,
}


def describe(schedule: ScheduleConf, recipe: RecipeConf, epochs: int) -> List[str]:
    """Two lines: the recipe, and how this schedule derives from it for T = ``epochs``."""
    return [f"recipe    {describe_recipe(recipe)}",
            f"schedule  {_DESCRIBE[schedule.name](schedule, recipe, epochs)}; {_momentum(schedule, recipe)}"]
