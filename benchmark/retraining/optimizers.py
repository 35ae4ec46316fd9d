"""The recipe's optimizer: a name-to-builder registry, and how a schedule sets its rates.

A recipe names its optimizer (``recipe.optimizer``); every stage builds a fresh one from
the recipe with :func:`build` and sets the learning rate and momentum of each iteration
with :func:`set_rates`. "Momentum" means what the optimizer has: SGD's momentum, or
AdamW's first-moment decay beta1 (what OneCycleLR cycles for Adam-type optimizers).
So schedules stay free of any SGD assumption.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable

import torch

from benchmark.errors import ConfigError
from benchmark.retraining.schema import RecipeConf



def _sgd(params: Iterable, recipe: RecipeConf, lr: float, momentum: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=recipe.weight_decay,
                           nesterov=recipe.nesterov)


def _adamw(params: Iterable, recipe: RecipeConf, lr: float, momentum: float) -> torch.optim.Optimizer:
    # Decoupled weight decay on every parameter, as torch.optim.AdamW applies it.
    return torch.optim.AdamW(params, lr=lr, betas=(momentum, recipe.betas[1]), weight_decay=recipe.weight_decay)


OPTIMIZERS: Dict[str, Callable[[Iterable, RecipeConf, float, float], torch.optim.Optimizer]] = {
    "sgd": _sgd,
    "adamw": _adamw,
}


def check(recipe: RecipeConf) -> None:
    """One line naming the valid optimizers, or the bad setting, before training."""
    if recipe.optimizer not in OPTIMIZERS:
        raise ConfigError(f"recipe.optimizer={recipe.optimizer!r} is unknown; valid: {', '.join(OPTIMIZERS)}")
    if recipe.optimizer == "adamw" and not (len(recipe.betas) == 2 and all(0.0 <= b < 1.0 for b in recipe.betas)):
        raise ConfigError(f"recipe.betas={list(recipe.betas)} must be two values in [0, 1)")


def recipe_momentum(recipe: RecipeConf) -> float:
    """The recipe's own momentum: SGD's ``momentum`` or AdamW's beta1."""
    return recipe.betas[0] if recipe.optimizer == "adamw" else recipe.momentum


def has_momentum(recipe: RecipeConf) -> bool:
    """Whether cycling momentum means anything: SGD without momentum has none to cycle."""
    return recipe_momentum(recipe) > 0.0


def build(params: Iterable, recipe: RecipeConf, lr: float, momentum: float) -> torch.optim.Optimizer:
    check(recipe)
    return OPTIMIZERS[recipe.optimizer](params, recipe, lr, momentum)


def set_rates(optimizer: torch.optim.Optimizer, lr: float, momentum: float) -> None:
    """This iteration's learning rate and momentum (beta1 for Adam-type optimizers)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        if "betas" in group:
            group["betas"] = (momentum, group["betas"][1])
        else:
            group["momentum"] = momentum
