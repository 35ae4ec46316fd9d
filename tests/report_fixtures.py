"""Findings records written through the suite's own record type (:class:`benchmark.records.CellRecord`)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable, Dict, Iterable, Tuple

from benchmark.records import CellRecord, write_record

ENVIRONMENT = {"git": {"commit": "0123abc", "dirty": False}, "packages": {"torch": "2.14.1"},
               "device": {"type": "cpu", "threads": 2, "cpu": "x86_64"}, "precision": "fp32"}
SCHEDULES = {"l1": ("ft", "lrw", "slr", "clr"), "mwp": ("ft", "lrw", "slr", "clr"), "random": ("ft", "clr")}
BUDGETS, SEEDS = (3, 6), (0, 1, 2)
Key = Tuple[str, str, int, int]  # pruner, schedule, T, seed


def accuracy(pruner: str, schedule: str, epochs: int, seed: int) -> float:
    """Made-up final top-1: every large-rate schedule beats FT, except SLR after MWP (below FT in every
    seed); CLR's gain over FT grows from T=3 to T=6; random + CLR beats L1 + FT by about a point."""
    ft = 75.0 + seed + (0.5 if epochs == 6 else 0.0) + (0.3 * seed if pruner == "mwp" else 0.0)
    gain = {"ft": 0.0, "lrw": 1.0 + 0.1 * seed, "slr": 1.5 - 0.2 * seed, "clr": 3.0 + 0.25 * seed + (1.0 if epochs == 6 else 0.0)}
    if pruner == "mwp" and schedule == "slr":
        return round(ft - 1.0 - 0.1 * seed, 4)
    if pruner == "random":
        return round(ft + (-2.0 if schedule == "ft" else 1.0 + 0.1 * seed), 4)
    return round(ft + gain[schedule], 4)


def grid() -> Iterable[Key]:
    for pruner, schedules in SCHEDULES.items():
        yield from ((pruner, s, t, r) for s, t, r in itertools.product(schedules, BUDGETS, SEEDS))


def _metrics(value: float, seed: int, pruner: str, metric: str) -> Dict[str, float]:
    """Top-1 always (the collector needs it of a finished record); ``metric`` too, with the same numbers."""
    values = {"test_top1": value, "baseline_test_top1": 85.0 + seed, "pruned_test_top1": 40.0 + seed + len(pruner)}
    if metric != "test_top1":
        values |= {k.replace("test_top1", metric): v for k, v in values.items()}
    return values


def baseline_of(seed: int, converged: bool) -> Dict:
    """A record's ``baseline`` part: a 12-epoch curve and a hand-set verdict."""
    curve = [{"epoch": e, "lr": 0.1 if e < 6 else 0.01 if e < 9 else 0.001, "train_loss": 2.0 - 0.1 * e,
              "train_top1": 50.0 + 4 * e, "val_top1": 40.0 + 3 * e} for e in range(12)]
    return {"source": "trained", "curve": curve,
            "convergence": {"epochs": 12, "final_epochs": 3, "final_lr": 0.001, "epochs_at_final_lr": 3, "lr_final": True,
                            "final_train_top1": 98.0 if converged else 94.0, "train_top1_ok": converged,
                            "late_change": 0.2, "late_change_ok": True, "converged": converged,
                            "reasons": [] if converged else ["final training top-1 94.00% < 97%"]}}


def write_cell(root: Path, key: Key, acc: float, status: str = "finished", metric: str = "test_top1",
               converged: bool | None = None) -> CellRecord:
    pruner, schedule, epochs, seed = key
    name = f"cifar10-resnet20-{pruner}-{schedule}-T{epochs}-s{seed}"
    pruned = f"prune-{pruner}-{seed}"
    record = CellRecord(
        identity={"baseline": f"base-{seed}", "pruned": pruned, "cell": f"cell-{name}"}, name=name,
        comparison=f"cifar10-resnet20-{pruner}-T{epochs}",
        config={"dataset": {"name": "cifar10"}, "model": {"name": "resnet20", "width": 1.0},
                "recipe": {"epochs": 12, "milestones": [6, 9]},
                "pruner": {"name": pruner, "variant": None, "ratio": 0.5, "stage_ratios": None, "skip_layers": [],
                           "sparsity": 0.8, "rounds": 1, "target_reduction": None},
                "schedule": {"name": schedule}, "budget": {"epochs": epochs, "fraction": None},
                "seed": {"baseline": seed, "prune": seed, "retrain": seed}},
        seeds={"baseline": seed, "prune": seed, "retrain": seed}, budget_epochs=epochs, steps_per_epoch=79,
        environment=ENVIRONMENT, status=status,
        metrics=_metrics(acc, seed, pruner, metric) if status == "finished" else {},
        model={"params_before": 270000, "params_after": 200000 if pruner != "mwp" else 54000,
               "flops_before": 40_000_000, "flops_after": 30_000_000, "sparsity": 0.26 if pruner != "mwp" else 0.8},
        seconds={"baseline": 100.0 + seed, "prune": 1.5, "retrain": 10.0 * epochs, "cell": 111.5 + 10.0 * epochs},
        baseline=None if converged is None else baseline_of(seed, converged),
    )
    write_record(record, root / name)
    return record


def write_findings(root: Path, value: Callable[[str, str, int, int], float] = accuracy, skip: Iterable[Key] = (),
                   diverged: Iterable[Key] = (), metric: str = "test_top1",
                   converged: Dict[int, bool] | None = None) -> Dict[Key, float]:
    """The findings_small grid under ``root``; returns the finished cells' values by key.
    ``converged``: each seed's baseline verdict (None: records without one, as before the rule)."""
    skip, diverged, values = set(skip), set(diverged), {}
    for key in grid():
        if key in skip:
            continue
        if key in diverged:
            write_cell(root, key, 0.0, status="diverged", metric=metric)
            continue
        values[key] = value(*key)
        write_cell(root, key, values[key], metric=metric,
                   converged=None if converged is None else converged[key[3]])
    return values
