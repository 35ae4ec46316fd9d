"""The retraining axis's schemas: the original recipe, every schedule (``conf/schedule/``), the budget,
distillation, and the rule that calls a baseline converged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from omegaconf import MISSING

from benchmark.fields import FRACTION, OPEN_UNIT, POSITIVE, ranged


@dataclass
class RecipeConf:
    """The original (baseline) training recipe; retraining schedules derive from it."""

    name: str = ""  # cifar | imagenet | ...: the dataset family it was written for ("" = any); not hashed
    epochs: int = ranged(160, low=1)
    batch_size: int = ranged(64, low=1)
    lr: float = ranged(0.1, **POSITIVE)
    milestones: List[int] = ranged(factory=lambda: [80, 120], low=0, high="recipe.epochs", low_open=True,
                                   high_open=True, increasing=True)
    gamma: float = ranged(0.1, low=0, high=1, low_open=True)
    momentum: float = ranged(0.9, **FRACTION)  # SGD momentum (ignored by adamw, whose momentum is betas[0])
    weight_decay: float = ranged(1e-4, low=0)
    nesterov: bool = False  # the paper says Nesterov; the authors' code does not use it
    optimizer: str = "sgd"  # sgd | adamw (benchmark.retraining.optimizers.OPTIMIZERS)
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])  # adamw only
    shape: str = "step"  # step: lr x gamma at milestones, per epoch | cosine: per iteration, to min_lr | onecycle
    warmup_epochs: int = 0  # linear warm-up from 0 to lr over the first epochs, per iteration
    min_lr: float = 0.0  # cosine only: the rate the cosine ends at


@dataclass
class ScheduleConf:
    """A retraining schedule; every subclass is one entry of ``benchmark.retraining.schedules``."""

    name: str = MISSING


@dataclass
class OriginalScheduleConf(ScheduleConf):
    """The recipe's own schedule, under which baselines train (never a retraining choice)."""

    name: str = "original"


@dataclass
class FTScheduleConf(ScheduleConf):
    name: str = "ft"
    lr: Optional[float] = ranged(None, **POSITIVE)  # None: the last learning rate of the original schedule


@dataclass
class LRWScheduleConf(ScheduleConf):
    name: str = "lrw"
    source: str = "recipe"  # recipe: lr_orig(E - T + t) | recorded: the baseline's recorded per-iteration rates
    rates: Optional[List[float]] = None  # source=recorded: filled by the cell from the baseline; leave null


@dataclass
class BudgetAwareScheduleConf(ScheduleConf):
    """A warm-up then a decay to 0 over the budget, per iteration: llr | allr | cosine | rex."""

    name: str = "llr"
    warmup_fraction: float = ranged(0.1, **FRACTION)  # int(warmup_fraction x T x iterations) of cosine ramp from 0 to the peak
    peak_lr: Optional[float] = ranged(None, **POSITIVE)  # None: the recipe's largest lr; allr: decided after pruning (leave null)


@dataclass
class WRScheduleConf(ScheduleConf):
    """Weight rewinding (Renda et al. 2020): baseline weights of epoch E - T, recipe from E - T."""

    name: str = "wr"


@dataclass
class ScratchScheduleConf(ScheduleConf):
    """The pruned architecture from a fresh initialisation: scratch_e (E epochs) | scratch_b (E x FLOPs ratio)."""

    name: str = "scratch_b"


@dataclass
class SLRScheduleConf(ScheduleConf):
    name: str = "slr"
    warmup_fraction: float = ranged(0.1, **FRACTION)  # W = int(warmup_fraction * T) epochs of cosine warm-up
    start_lr: Optional[float] = ranged(None, **POSITIVE)  # None: the last learning rate of the original schedule
    peak_lr: Optional[float] = ranged(None, **POSITIVE)  # None: the original initial learning rate
    # Where the compressed step drops fall, as fractions of T counted after the warm-up.
    # None: the original milestones as fractions of E, times (1 - warmup_fraction):
    # 0.45 and 0.675 for the CIFAR recipe; the paper's ImageNet code used 0.297 and 0.594.
    drop_fractions: Optional[List[float]] = ranged(None, **OPEN_UNIT, increasing=True)


@dataclass
class CLRScheduleConf(ScheduleConf):
    name: str = "clr"
    max_lr_rule: str = ranged("recipe", choices=("recipe", "lrw", "value"))  # recipe: the original initial lr | lrw: lr_orig(E - T) | value: max_lr
    max_lr: Optional[float] = ranged(None, **POSITIVE)  # used when max_lr_rule == value
    pct_start: float = ranged(0.1, **OPEN_UNIT)  # fraction of iterations spent rising to max_lr
    div_factor: float = ranged(100.0, **POSITIVE)  # initial lr = max_lr / div_factor
    final_div_factor: float = ranged(100.0, **POSITIVE)  # final lr = initial lr / final_div_factor
    anneal: str = ranged("cos", choices=("cos", "linear"))  # cos | linear
    cycle_momentum: bool = True
    base_momentum: float = ranged(0.85, **FRACTION)
    max_momentum: float = ranged(0.95, low="schedule.base_momentum", high=1, high_open=True)


@dataclass
class StepScheduleConf(ScheduleConf):
    """A fixed step schedule: the retraining recipes of published methods the paper contrasts."""

    name: str = "step"
    lr: float = ranged(0.01, **POSITIVE)
    # Epochs (of T) at which lr is multiplied by gamma.
    milestones: List[int] = ranged(factory=list, low=0, high="T", low_open=True, high_open=True, increasing=True)
    milestone_fractions: List[float] = ranged(factory=list, **OPEN_UNIT, increasing=True)  # the same, as fractions of T
    gamma: float = ranged(0.1, low=0, high=1, low_open=True)


@dataclass
class DistillConf:
    """Knowledge distillation while retraining: none | kd (the teacher is the cell's dense baseline)."""

    name: str = "none"
    alpha: float = ranged(0.5, low=0, high=1)  # weight of the soft (teacher) term; (1 - alpha) weights cross-entropy
    temperature: float = ranged(4.0, **POSITIVE)  # tau: both logits divided by it, the soft term scaled by tau^2


@dataclass
class BudgetConf:
    """Retraining length: ``epochs`` T, or ``fraction`` of the original epochs E."""

    epochs: Optional[int] = ranged(None, low=1)
    fraction: Optional[float] = ranged(None, **POSITIVE)


@dataclass
class ConvergenceConf:
    """The rule that calls a dense baseline converged (benchmark.retraining.convergence): a verdict recorded
    beside the results, never a change to what is trained."""

    final_fraction: float = ranged(0.25, low=0, high=1, low_open=True)  # the final window, as a fraction of E
    min_train_top1: float = ranged(97.0, low=0, high=100)  # % training top-1 over the final epoch
    max_late_change: float = ranged(0.5, low=0, low_open=True)  # points of validation top-1 over the window
    # A fall over the window is overfitting at the final rate, not training left undone: true counts only a rise
    # against max_late_change; false bounds the change both ways.
    fall_ok: bool = True

