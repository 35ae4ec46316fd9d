"""Has a dense baseline finished training? A verdict on its per-epoch history, by a stated rule.

The paper's findings are about converged networks: its baselines train 160 epochs and the
last 40 run at the recipe's final rate. A retraining schedule compared on an undertrained
baseline may win only because it trains the network further. So every record carries its
baseline's convergence figures and a verdict, and every report shows them beside its claims.

The rule (thresholds in ``ConvergenceConf``; defaults):
- ``lr_final``: the learning rate held the recipe's last value for at least the final
  ``final_fraction`` (25%) of E;
- ``train_top1``: training accuracy over the final epoch (augmented batches, as the loop
  measures it) is at least ``min_train_top1`` (97%);
- ``late_change``: held-out top-1 rises by less than ``max_late_change`` (0.5) points over the
  final ``final_fraction`` of E, measured as the least-squares line's rise across those epochs
  (a trend, not the noise of one epoch against another). Held-out means the validation split
  (``dataset.val_size``); the test set is never read per epoch. Without a validation split the
  change is unknown and the baseline is not called converged.

  Only a rise counts (``fall_ok``, default true): the rule asks whether more training would
  still help, the reviewer's "it simply trained more". A baseline whose held-out accuracy falls
  at the final rate fits its training images ever closer and generalises a little worse: it has
  finished training, and more of it would not help. ``fall_ok=false`` bounds the change both
  ways. The record keeps the signed change, so either reading can be made from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from benchmark.retraining.schedules import final_original_lr
from benchmark.retraining.schema import ConvergenceConf, RecipeConf


@dataclass(frozen=True)
class Convergence:
    """The figures the rule reads and its verdict."""

    epochs: int
    final_epochs: int  # how many final epochs the rule's window spans: ceil(final_fraction x E)
    final_lr: float  # the recipe's last rate
    epochs_at_final_lr: int  # trailing epochs that ran at it
    lr_final: bool
    final_train_top1: Optional[float]
    train_top1_ok: bool
    late_change: Optional[float]  # points, the fitted rise of validation top-1 over the window
    late_change_ok: bool
    converged: bool
    reasons: List[str]

    def as_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


CURVE_KEYS = ("epoch", "lr", "train_loss", "train_top1", "val_top1")


def baseline_summary(history: List[Dict[str, float]], recipe: RecipeConf, rule: ConvergenceConf,
                     source: str = "trained") -> Dict[str, Any]:
    """What a record says of its baseline: where it came from, its curve per epoch, the verdict."""
    curve = [{k: row[k] for k in CURVE_KEYS if k in row} for row in history]
    return {"source": source, "curve": curve, "convergence": assess(history, recipe, rule).as_dict()}


def fitted_change(values: Sequence[float]) -> float:
    """The least-squares line's rise from the first to the last of ``values`` (equally spaced)."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    sxx = sum((i - mean_x) ** 2 for i in range(n))
    slope = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) / sxx
    return slope * (n - 1)


def assess(history: List[Dict[str, float]], recipe: RecipeConf, rule: ConvergenceConf) -> Convergence:
    """The verdict on a baseline trained ``recipe.epochs`` epochs with this per-epoch ``history``."""
    epochs = recipe.epochs
    window = max(1, math.ceil(rule.final_fraction * epochs))
    final_lr = final_original_lr(recipe)
    at_final = 0
    for row in reversed(history):
        if abs(row["lr"] - final_lr) > 1e-9 * max(abs(final_lr), 1e-12):
            break
        at_final += 1
    reasons: List[str] = []
    complete = len(history) >= epochs
    if not complete:
        reasons.append(f"history holds {len(history)} of {epochs} epochs")
    lr_final = complete and at_final >= window
    if complete and not lr_final:
        reasons.append(f"lr at its final value {final_lr:g} for {at_final} epochs, fewer than {window}")
    train = history[-1].get("train_top1") if history else None
    train_ok = train is not None and train >= rule.min_train_top1
    if train is not None and not train_ok:
        reasons.append(f"final training top-1 {train:.2f}% < {rule.min_train_top1:g}%")
    held_out = [row["val_top1"] for row in history[-window:] if "val_top1" in row]
    change = fitted_change(held_out) if len(held_out) == window and window >= 2 else None
    change_ok = change is not None and (change if rule.fall_ok else abs(change)) < rule.max_late_change
    if change is None:
        reasons.append("no validation top-1 per epoch over the final window (dataset.val_size=0)")
    elif not change_ok:
        reasons.append(f"validation top-1 moved {change:+.2f} points over the final {window} epochs "
                       f"(limit {rule.max_late_change:g})")
    return Convergence(epochs=epochs, final_epochs=window, final_lr=final_lr, epochs_at_final_lr=at_final,
                       lr_final=lr_final, final_train_top1=train, train_top1_ok=train_ok, late_change=change,
                       late_change_ok=change_ok, converged=lr_final and train_ok and change_ok, reasons=reasons)
