"""The learning-rate schedules: the original recipe and every retraining schedule.

This module is the single definition of every schedule in the suite. Each one is a
pure function of the global iteration index, the epoch length, the budget and the
configs, returning ``(learning_rate, momentum)``. Training, plan mode, the figures
and the tests all call :func:`lr_momentum`, so they can never disagree (the original
study's code had about ten diverging copies of this logic).

The recipe is data (``recipe.optimizer``, ``shape``, ``warmup_epochs``): every retraining
schedule derives from lr_orig(t), the recipe's rate at fractional epoch t, and from its
largest and final rates, never from an SGD or step assumption. "Momentum" is the
optimizer's own (SGD momentum or AdamW beta1; :mod:`benchmark.retraining.optimizers`).
docs/schedules.md derives each schedule in words.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Tuple

from benchmark.errors import ConfigError
from benchmark.retraining.optimizers import check as check_optimizer
from benchmark.retraining.optimizers import has_momentum, recipe_momentum
from benchmark.retraining.schema import BudgetConf, RecipeConf, ScheduleConf


def retrain_epochs(budget: BudgetConf, recipe: RecipeConf) -> int:
    """Resolve the budget group to T epochs: the one place budgets change unit."""
    if (budget.epochs is None) == (budget.fraction is None):
        raise ConfigError("budget: set exactly one of budget.epochs or budget.fraction")
    if budget.epochs is not None:
        epochs = int(budget.epochs)
        if epochs <= 0:
            raise ConfigError(f"budget.epochs={budget.epochs} must be a positive number of epochs")
        return epochs
    if not budget.fraction > 0:
        raise ConfigError(f"budget.fraction={budget.fraction} must be > 0")
    epochs = round(budget.fraction * recipe.epochs)
    if epochs <= 0:
        raise ConfigError(f"budget.fraction={budget.fraction} of {recipe.epochs} epochs rounds to 0 epochs")
    return epochs


# --- The original recipe: lr_orig(t) = warm-up(t) x shape(t), t in (fractional) epochs ---------------


def _step_shape(epoch: float, recipe: RecipeConf) -> float:
    """lr x gamma ** (milestones passed): constant within an epoch."""
    return recipe.lr * recipe.gamma ** sum(1 for milestone in recipe.milestones if epoch >= milestone)


def _cosine_shape(epoch: float, recipe: RecipeConf) -> float:
    """Cosine from lr down to min_lr over the epochs after the warm-up, per iteration."""
    span = recipe.epochs - recipe.warmup_epochs
    return _cosine_ramp(recipe.lr, recipe.min_lr, min(1.0, max(0.0, (epoch - recipe.warmup_epochs) / span)))


def _onecycle_shape(epoch: float, recipe: RecipeConf) -> float:
    """1-cycle over the whole recipe with torch OneCycleLR's defaults (30% rising from lr / 25, cosine down
    to lr / 25e4), continuous in t; the momentum stays the recipe's (the ``clr_baseline`` ablation)."""
    pct = min(1.0, max(0.0, epoch / recipe.epochs))
    if pct <= 0.3:
        return _cosine_ramp(recipe.lr / 25.0, recipe.lr, pct / 0.3)
    return _cosine_ramp(recipe.lr, recipe.lr / 25.0e4, (pct - 0.3) / 0.7)


SHAPES: Dict[str, Callable[[float, RecipeConf], float]] = {"step": _step_shape, "cosine": _cosine_shape,
                                                     "onecycle": _onecycle_shape}


def original_lr(epoch: float, recipe: RecipeConf) -> float:
    """lr_orig(t): the recipe's rate at epoch t (t = iteration / iterations per epoch), its linear
    warm-up from 0 (as LinearLR from ~0, the BIMP code's choice) times its shape."""
    warm = min(1.0, epoch / recipe.warmup_epochs) if recipe.warmup_epochs > 0 else 1.0
    return warm * SHAPES[recipe.shape](epoch, recipe)


def final_original_lr(recipe: RecipeConf) -> float:
    """The recipe's final rate, lr_orig(E - 1): 0.001 for the CIFAR step recipe, ~min_lr for cosine."""
    return original_lr(recipe.epochs - 1, recipe)


def max_original_lr(recipe: RecipeConf) -> float:
    """The recipe's largest rate: where warm-up ends and decay begins, for every shape."""
    return recipe.lr


def _cosine_ramp(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


def _linear_ramp(start: float, end: float, pct: float) -> float:
    return start + (end - start) * pct


def _original(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    return original_lr(step / steps_per_epoch, recipe), recipe_momentum(recipe)


# --- The study's four schedules (and weight rewinding, which retrains on LRW's rates) ----------------


def _ft(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    lr = final_original_lr(recipe) if schedule.lr is None else schedule.lr
    return lr, recipe_momentum(recipe)


def _lrw(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    """lr_orig(E - T + t); ``source=recorded`` reads the baseline's recorded rates instead."""
    if schedule.name == "lrw" and schedule.source == "recorded":
        if schedule.rates is None:
            raise ConfigError("schedule.source=recorded replays the baseline's recorded rates, "
                              "known only once the baseline is trained")
        return schedule.rates[step], recipe_momentum(recipe)
    return original_lr(recipe.epochs - epochs + step / steps_per_epoch, recipe), recipe_momentum(recipe)


def slr_drop_epochs(epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> List[int]:
    """Epochs at which SLR divides its learning rate, after the warm-up of W epochs (step recipes)."""
    warmup = int(schedule.warmup_fraction * epochs)
    fractions = schedule.drop_fractions
    if fractions is None:
        fractions = [m / recipe.epochs * (1.0 - schedule.warmup_fraction) for m in recipe.milestones]
    # The epsilon keeps int() from flooring 27.0 to 26 when 0.675 * 40 lands a hair below.
    return [warmup + int(f * epochs + 1e-9) for f in fractions]


def _slr(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    """Cosine warm-up from the final to the peak rate over W epochs, then the recipe compressed into T - W."""
    epoch = step // steps_per_epoch
    start = final_original_lr(recipe) if schedule.start_lr is None else schedule.start_lr
    peak = max_original_lr(recipe) if schedule.peak_lr is None else schedule.peak_lr
    warmup = int(schedule.warmup_fraction * epochs)
    if epoch < warmup:
        # lr = start + (peak - start)(1 - cos(pi e / W)) / 2: epoch 0 trains at `start`.
        return _cosine_ramp(start, peak, epoch / warmup), recipe_momentum(recipe)
    if recipe.shape == "step":  # the paper's drops: per epoch, at int() of the compressed milestones
        drops = sum(1 for d in slr_drop_epochs(epochs, schedule, recipe) if epoch >= d)
        return peak * recipe.gamma**drops, recipe_momentum(recipe)
    # Any other shape: the recipe after its own warm-up, mapped onto the T - W epochs left, scaled to peak.
    pct = (step / steps_per_epoch - warmup) / (epochs - warmup)
    source = recipe.warmup_epochs + pct * (recipe.epochs - recipe.warmup_epochs)
    return peak / recipe.lr * SHAPES[recipe.shape](source, recipe), recipe_momentum(recipe)


def clr_max_lr(epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> float:
    """CLR's peak: the recipe's largest lr, the LRW rule lr_orig(E - T), or a given value."""
    if schedule.max_lr_rule == "recipe":
        return max_original_lr(recipe)
    if schedule.max_lr_rule == "lrw":
        return original_lr(recipe.epochs - epochs, recipe)
    if schedule.max_lr_rule == "value":
        return schedule.max_lr
    raise ConfigError(f"schedule.max_lr_rule={schedule.max_lr_rule!r} is not one of: recipe, lrw, value")


def _clr(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    """1-cycle, with the same phase arithmetic as torch.optim.lr_scheduler.OneCycleLR; momentum
    (beta1 for AdamW) is cycled only where the recipe's optimizer has momentum."""
    total = epochs * steps_per_epoch
    max_lr = clr_max_lr(epochs, schedule, recipe)
    initial = max_lr / schedule.div_factor
    final = initial / schedule.final_div_factor
    ramp = _cosine_ramp if schedule.anneal == "cos" else _linear_ramp
    peak_step = float(schedule.pct_start * total) - 1.0
    hi_m, lo_m = schedule.max_momentum, schedule.base_momentum
    if step <= peak_step:
        pct = step / peak_step if peak_step > 0 else 1.0
        lr, momentum = ramp(initial, max_lr, pct), ramp(hi_m, lo_m, pct)
    else:
        pct = (step - peak_step) / (total - 1 - peak_step)
        lr, momentum = ramp(max_lr, final, pct), ramp(lo_m, hi_m, pct)
    return lr, (momentum if schedule.cycle_momentum and has_momentum(recipe) else recipe_momentum(recipe))


def _step(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    """A published method's own recipe: lr x gamma at given epochs (or fractions of T), per epoch."""
    epoch = step // steps_per_epoch
    drops = list(schedule.milestones) + [int(f * epochs + 1e-9) for f in schedule.milestone_fractions]
    return schedule.lr * schedule.gamma ** sum(1 for d in drops if epoch >= d), recipe_momentum(recipe)


# --- Budget-aware schedules since 2021: a warm-up, then a decay to 0 over what is left --------------

# Decay factors over the post-warm-up progress p in [0, 1): 1 at p = 0, 0 at p = 1.
DECAYS: Dict[str, Callable[[float], float]] = {
    "linear": lambda p: 1.0 - p,  # LLR and ALLR (Zimmer et al. 2023)
    "cosine": lambda p: (1.0 + math.cos(math.pi * p)) / 2.0,  # cosine to 0
    "rex": lambda p: (1.0 - p) / (0.5 + 0.5 * (1.0 - p)),  # REX (Chen et al. 2022)
}
BUDGET_AWARE = {"llr": "linear", "allr": "linear", "cosine": "cosine", "rex": "rex"}


def allr_peak(norm_drop: float, pruned_fraction: float, epochs: int, recipe: RecipeConf) -> float:
    """ALLR's after-warm-up rate: clip(d / sqrt(s) x max_lr, min(T / E, 1) x max_lr, max_lr), with d the
    relative L2 norm drop and s the pruned fraction (Zimmer et al. 2023; BIMP define_retrain_schedule).
    Nothing pruned (s = 0) removes no norm either: the lower clip."""
    max_lr = max_original_lr(recipe)
    low = min(epochs / recipe.epochs, 1.0) * max_lr
    if pruned_fraction <= 0.0:
        return low
    return min(max(norm_drop / math.sqrt(pruned_fraction) * max_lr, low), max_lr)


def _budget_aware(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    """int(warmup_fraction x N) iterations of cosine warm-up from 0 to the peak (BIMP's CosineAnnealingLR
    ramp), then the named decay to 0 over the remaining iterations; stepped per iteration."""
    total = epochs * steps_per_epoch
    warm = int(schedule.warmup_fraction * total)
    peak = max_original_lr(recipe) if schedule.peak_lr is None else schedule.peak_lr
    if step < warm:
        return _cosine_ramp(0.0, peak, step / warm), recipe_momentum(recipe)
    return peak * DECAYS[BUDGET_AWARE[schedule.name]]((step - warm) / (total - warm)), recipe_momentum(recipe)


def _scratch(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    """Scratch-E / Scratch-B (Liu et al. 2019): the recipe stretched to the cell's epochs, its warm-up and
    milestones scaled by epochs / E (the identity for Scratch-E)."""
    return original_lr(step / steps_per_epoch * recipe.epochs / epochs, recipe), recipe_momentum(recipe)


SCHEDULES: Dict[str, Callable[[int, int, int, ScheduleConf, RecipeConf], Tuple[float, float]]] = {
    "original": _original,
    "ft": _ft,
    "lrw": _lrw,
    "slr": _slr,
    "clr": _clr,
    "step": _step,
    "llr": _budget_aware,
    "allr": _budget_aware,
    "cosine": _budget_aware,
    "rex": _budget_aware,
    "wr": _lrw,  # weight rewinding retrains on the recipe from epoch E - T, as LRW does
    "scratch_e": _scratch,
    "scratch_b": _scratch,
}
# The order schedules take in tables, figures and legends: the one definition, imported by the report.
# ``clr_lrw`` is CLR with its peak by the LRW rule; a ``+kd`` label (distill=kd) follows its schedule.
SCHEDULE_ORDER: List[str] = ["ft", "lrw", "wr", "slr", "clr", "clr_lrw", "llr", "allr", "cosine", "rex", "step",
                             "scratch_e", "scratch_b"]


def order_key(label: str) -> Tuple[int, str]:
    """Sort key of a report label (``clr``, ``clr+kd``, ``hrank_cifar``): registry order, then the rest by name."""
    name, _, extra = label.partition("+")
    return (SCHEDULE_ORDER.index(name) if name in SCHEDULE_ORDER else len(SCHEDULE_ORDER), name + "+" + extra)
REWINDING = ("lrw", "wr")  # schedules that replay the recipe's last T epochs: need T <= E


def validate_recipe(recipe: RecipeConf) -> None:
    """The recipe's optimizer, shape and warm-up, in one line each, before training."""
    check_optimizer(recipe)
    if recipe.shape not in SHAPES:
        raise ConfigError(f"recipe.shape={recipe.shape!r} is unknown; valid: {', '.join(SHAPES)}")
    if not 0 <= recipe.warmup_epochs < recipe.epochs:
        raise ConfigError(f"recipe.warmup_epochs={recipe.warmup_epochs} must lie in [0, recipe.epochs={recipe.epochs})")
    if recipe.shape == "cosine" and not 0.0 <= recipe.min_lr <= recipe.lr:
        raise ConfigError(f"recipe.min_lr={recipe.min_lr} must lie in [0, recipe.lr={recipe.lr}]")


def _validate_budget_aware(schedule: ScheduleConf) -> None:
    if schedule.name == "allr" and schedule.peak_lr is not None:
        raise ConfigError(f"schedule.peak_lr={schedule.peak_lr}: allr decides its rate after pruning; leave it null")


def validate(schedule: ScheduleConf, recipe: RecipeConf, epochs: int) -> None:
    """Fail in one line, before training, on a schedule that cannot run for T epochs."""
    if schedule.name not in SCHEDULES:
        raise ConfigError(f"schedule={schedule.name!r} is unknown; valid: {', '.join(SCHEDULES)}")
    validate_recipe(recipe)
    if epochs <= 0:
        raise ConfigError(f"retraining budget T={epochs} must be positive")
    needs_rewind = schedule.name in REWINDING or (schedule.name == "clr" and schedule.max_lr_rule == "lrw")
    if needs_rewind and epochs > recipe.epochs:
        raise ConfigError(
            f"schedule={schedule.name} rewinds the original schedule to epoch E - T, so budget T={epochs} "
            f"must be <= the original {recipe.epochs} epochs"
        )
    if schedule.name == "lrw":
        if schedule.source not in ("recipe", "recorded"):
            raise ConfigError(f"schedule.source={schedule.source!r} is not one of: recipe, recorded")
        if schedule.rates is not None:
            raise ConfigError("schedule.rates is read from the baseline's record; leave it null")
    if schedule.name in BUDGET_AWARE:
        _validate_budget_aware(schedule)
    if schedule.name == "clr":
        clr_max_lr(epochs, schedule, recipe)  # (value ranges: benchmark.validation, from the schema)


def lr_momentum(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    """Learning rate and momentum for global iteration ``step`` of a T-epoch schedule."""
    return SCHEDULES[schedule.name](step, steps_per_epoch, epochs, schedule, recipe)


def lr_at_epoch_start(steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> List[float]:
    """The learning rate of the first iteration of each of the T epochs (plan mode, figures)."""
    return [lr_momentum(e * steps_per_epoch, steps_per_epoch, epochs, schedule, recipe)[0] for e in range(epochs)]
