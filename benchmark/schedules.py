"""The learning-rate schedules: the original recipe and the four retraining variants.

This module is the single definition of every schedule in the suite. Each one is a
pure function of the global iteration index, the epoch length, the budget and the
configs, returning ``(learning_rate, momentum)``. Training, plan mode, the figures
and the tests all call :func:`lr_momentum`, so they can never disagree (the original
study's code had about ten diverging copies of this logic).

Per-epoch schedules (original, FT, LRW, SLR) return the same value for every
iteration of an epoch; CLR changes every iteration, as PyTorch's OneCycleLR does.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Tuple

from benchmark.errors import ConfigError
from benchmark.schema import BudgetConf, RecipeConf, ScheduleConf



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


def original_lr(epoch: int, recipe: RecipeConf) -> float:
    """lr_orig(e): the recipe's step schedule, lr * gamma ** (milestones passed)."""
    drops = sum(1 for milestone in recipe.milestones if epoch >= milestone)
    return recipe.lr * recipe.gamma**drops


def final_original_lr(recipe: RecipeConf) -> float:
    """The last learning rate of the original schedule (0.001 for the CIFAR recipe)."""
    return recipe.lr * recipe.gamma ** len(recipe.milestones)


def _cosine_ramp(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


def _linear_ramp(start: float, end: float, pct: float) -> float:
    return start + (end - start) * pct


def _original(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    return original_lr(step // steps_per_epoch, recipe), recipe.momentum


def _ft(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    lr = final_original_lr(recipe) if schedule.lr is None else schedule.lr
    return lr, recipe.momentum


def _lrw(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    epoch = step // steps_per_epoch
    return original_lr(recipe.epochs - epochs + epoch, recipe), recipe.momentum


def slr_drop_epochs(epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> List[int]:
    """Epochs at which SLR divides its learning rate, after the warm-up of W epochs."""
    warmup = int(schedule.warmup_fraction * epochs)
    fractions = schedule.drop_fractions
    if fractions is None:
        fractions = [m / recipe.epochs * (1.0 - schedule.warmup_fraction) for m in recipe.milestones]
    # The epsilon keeps int() from flooring 27.0 to 26 when 0.675 * 40 lands a hair below.
    return [warmup + int(f * epochs + 1e-9) for f in fractions]


def _slr(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    epoch = step // steps_per_epoch
    start = final_original_lr(recipe) if schedule.start_lr is None else schedule.start_lr
    peak = recipe.lr if schedule.peak_lr is None else schedule.peak_lr
    warmup = int(schedule.warmup_fraction * epochs)
    if epoch < warmup:
        # lr = start + (peak - start)(1 - cos(pi e / W)) / 2: epoch 0 trains at `start`.
        return _cosine_ramp(start, peak, epoch / warmup), recipe.momentum
    drops = sum(1 for d in slr_drop_epochs(epochs, schedule, recipe) if epoch >= d)
    return peak * recipe.gamma**drops, recipe.momentum


def clr_max_lr(epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> float:
    """CLR's peak: the recipe's initial lr, the LRW rule lr_orig(E - T), or a given value."""
    if schedule.max_lr_rule == "recipe":
        return recipe.lr
    if schedule.max_lr_rule == "lrw":
        return original_lr(recipe.epochs - epochs, recipe)
    if schedule.max_lr_rule == "value":
        return schedule.max_lr
    raise ConfigError(f"schedule.max_lr_rule={schedule.max_lr_rule!r} is not one of: recipe, lrw, value")


def _clr(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    """1-cycle, with the same phase arithmetic as torch.optim.lr_scheduler.OneCycleLR."""
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
    return lr, (momentum if schedule.cycle_momentum else recipe.momentum)


def _step(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    """A published method's own recipe: lr x gamma at given epochs (or fractions of T), per epoch."""
    epoch = step // steps_per_epoch
    drops = list(schedule.milestones) + [int(f * epochs + 1e-9) for f in schedule.milestone_fractions]
    return schedule.lr * schedule.gamma ** sum(1 for d in drops if epoch >= d), recipe.momentum


SCHEDULES: Dict[str, Callable[[int, int, int, ScheduleConf, RecipeConf], Tuple[float, float]]] = {
    "original": _original,
    "ft": _ft,
    "lrw": _lrw,
    "slr": _slr,
    "clr": _clr,
    "step": _step,
}


def validate(schedule: ScheduleConf, recipe: RecipeConf, epochs: int) -> None:
    """Fail in one line, before training, on a schedule that cannot run for T epochs."""
    if schedule.name not in SCHEDULES:
        raise ConfigError(f"schedule={schedule.name!r} is unknown; valid: {', '.join(SCHEDULES)}")
    if epochs <= 0:
        raise ConfigError(f"retraining budget T={epochs} must be positive")
    needs_rewind = schedule.name == "lrw" or (schedule.name == "clr" and schedule.max_lr_rule == "lrw")
    if needs_rewind and epochs > recipe.epochs:
        raise ConfigError(
            f"schedule={schedule.name} rewinds the original schedule, so budget T={epochs} "
            f"must be <= the original {recipe.epochs} epochs"
        )
    if schedule.name == "clr":
        clr_max_lr(epochs, schedule, recipe)
        if schedule.anneal not in ("cos", "linear"):
            raise ConfigError(f"schedule.anneal={schedule.anneal!r} is not one of: cos, linear")
        if not 0.0 < schedule.pct_start < 1.0:
            raise ConfigError(f"schedule.pct_start={schedule.pct_start} must lie in (0, 1)")


def lr_momentum(step: int, steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> Tuple[float, float]:
    """Learning rate and momentum for global iteration ``step`` of a T-epoch schedule."""
    return SCHEDULES[schedule.name](step, steps_per_epoch, epochs, schedule, recipe)


def lr_at_epoch_start(steps_per_epoch: int, epochs: int, schedule: ScheduleConf, recipe: RecipeConf) -> List[float]:
    """The learning rate of the first iteration of each of the T epochs (plan mode, figures)."""
    return [lr_momentum(e * steps_per_epoch, steps_per_epoch, epochs, schedule, recipe)[0] for e in range(epochs)]
