"""The figures of ``make tables``: PNG and PDF, drawn with matplotlib's object API.

- ``accuracy_change``: accuracy change versus the unpruned network against budget T, one
  line per schedule with error bars (sd over seeds; none where n = 1), one panel per
  (dataset, model, pruner); the published curve dashed where the paper has one (the paper's
  summary figure). A panel with a single budget shows the schedules side by side instead.
- ``lr_schedules``: the learning rate and momentum of every retraining schedule for one
  budget, evaluated per iteration by :func:`benchmark.retraining.schedules.lr_momentum` itself.
- ``accuracy_vs_sparsity``: final test top-1 against the fraction of parameters removed
  (``model.sparsity``), one panel per (dataset, model, T), one line per pruner and schedule.

Figures are built on ``matplotlib.figure.Figure`` rather than pyplot, so drawing sets no
global backend or state and works headless (Agg for PNG, the PDF backend for PDF).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from benchmark.retraining import schema
from benchmark.errors import ConfigError
from benchmark.report import published
from benchmark.retraining.schedules import SCHEDULE_ORDER, lr_momentum, order_key, validate

SCHEDULE_CONFS = {"ft": schema.FTScheduleConf, "lrw": schema.LRWScheduleConf, "slr": schema.SLRScheduleConf,
                  "clr": schema.CLRScheduleConf, "clr_lrw": schema.CLRScheduleConf, "wr": schema.WRScheduleConf,
                  "step": schema.StepScheduleConf, "scratch_e": schema.ScratchScheduleConf,
                  "scratch_b": schema.ScratchScheduleConf,
                  **dict.fromkeys(("llr", "allr", "cosine", "rex"), schema.BudgetAwareScheduleConf)}
CIFAR_STEPS_PER_EPOCH = 782  # ceil(50000 / 64): CIFAR training set, the recipe's batch
PAPER_BUDGET = 72


def _colour(schedule: str) -> str:
    """One colour per schedule of the registry order; ``+kd`` takes the colour after the registry's."""
    index, _ = order_key(schedule)
    return f"C{(index + (len(SCHEDULE_ORDER) if '+' in schedule else 0)) % 10}"


def _ordered(names: Sequence[str]) -> List[str]:
    return sorted(set(names), key=order_key)


def _grid(panels: int, width: float = 4.2, height: float = 3.2) -> Tuple[Figure, List[Any]]:
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    fig = Figure(figsize=(width * columns, height * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel().tolist()
    for extra in axes[panels:]:
        extra.set_visible(False)
    return fig, axes[:panels]


def save(fig: Figure, out: Path, stem: str) -> List[Path]:
    """Write ``stem.png`` (150 dpi) and ``stem.pdf`` into ``out``, without a creation date, so
    the same records give byte-identical files (regenerated figures do not show as changed)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in paths:
        fig.savefig(path, dpi=150, metadata={"CreationDate": None} if path.suffix == ".pdf" else None)
    return paths


def _finished(frame: pd.DataFrame) -> pd.DataFrame:
    """Finished cells with numeric accuracies (a W&B-only column may hold objects) and the change."""
    top1, baseline = (pd.to_numeric(frame[c], errors="coerce") for c in ("metrics.test_top1", "metrics.baseline_test_top1"))
    done = frame.assign(**{"metrics.test_top1": top1, "metrics.baseline_test_top1": baseline, "change": top1 - baseline})
    return done[(done["status"] == "finished") & top1.notna()]


def _spread(stats: pd.DataFrame) -> np.ndarray:
    """Error bar half-lengths: the sd over seeds, NaN (no bar) where only one seed ran, since a
    zero-length bar would read as zero variance."""
    return stats["std"].where(stats["count"] > 1).to_numpy(float)


def _over_budgets(ax: Any, group: pd.DataFrame, paper: pd.DataFrame, reference: bool) -> None:
    """One line per schedule against T, with the published curves dashed where they exist."""
    for schedule in _ordered(group["schedule"]):
        stats = group[group["schedule"] == schedule].groupby("T")["change"].agg(["mean", "std", "count"])
        low, high = stats["count"].min(), stats["count"].max()
        ax.errorbar(stats.index.to_numpy(int), stats["mean"].to_numpy(float), yerr=_spread(stats),
                    marker="o", ms=4, capsize=3, color=_colour(schedule),
                    label=f"{schedule.upper()} (n={low}{'' if low == high else f'-{high}'})")
    if reference:
        for schedule, curve in paper.groupby("schedule"):
            ax.plot(curve["T"], curve["delta"], ls="--", lw=1, color=_colour(schedule), alpha=0.7)
        if len(paper):
            ax.plot([], [], ls="--", color="grey", label="published")
    ax.set_xlabel("retraining budget T (epochs)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # T is a whole number of epochs


def _at_one_budget(ax: Any, group: pd.DataFrame, paper: pd.DataFrame, reference: bool) -> None:
    """A single budget: the schedules side by side (mean, sd, every seed as a dot), not single
    points on a T axis a fraction of an epoch wide."""
    epochs = int(group["T"].iloc[0])
    names = _ordered(group["schedule"])
    for x, schedule in enumerate(names):
        values = group.loc[group["schedule"] == schedule, "change"].to_numpy(float)
        stats = pd.DataFrame({"mean": [values.mean()], "std": [np.std(values, ddof=1) if len(values) > 1 else np.nan],
                              "count": [len(values)]})
        ax.errorbar([x], stats["mean"], yerr=_spread(stats), marker="o", ms=6, capsize=4, color=_colour(schedule),
                    label=f"{schedule.upper()} (n={len(values)})")
        ax.plot(np.full(len(values), x + 0.15), values, ls="none", marker=".", ms=3, color=_colour(schedule), alpha=0.6)
        published_here = paper[(paper["schedule"] == schedule) & (paper["T"] == epochs)] if reference else paper.iloc[:0]
        if len(published_here):
            ax.plot([x - 0.15], published_here["delta"].iloc[:1], ls="none", marker="x", color=_colour(schedule),
                    label=f"{schedule.upper()} published")
    ax.set_xticks(range(len(names)), [n.upper() for n in names])
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_xlabel(f"schedule, at T = {epochs} epochs (dots: seeds)")


def accuracy_change(frame: pd.DataFrame) -> Figure | None:
    """Accuracy change against T per schedule (mean, sd error bars); with one budget in a
    panel, the schedules side by side at that budget. None without data."""
    done = _finished(frame)
    done = done[done["change"].notna() & done["T"].notna()]
    if done.empty:
        return None
    paper = published.load("cifar10_accuracy_change")
    groups = list(done.groupby(["dataset", "model", "pruner"], sort=True))
    fig, axes = _grid(len(groups))
    for ax, ((dataset, model, pruner), group) in zip(axes, groups):
        variant = group["variant"].dropna().unique()
        reference = dataset == "cifar10" and group["config.pruner.name"].iloc[0] == "l1" and len(variant) == 1
        ref = paper[(paper["model"] == model) & (paper["variant"] == variant[0])] if reference else paper.iloc[:0]
        draw = _over_budgets if group["T"].nunique() > 1 else _at_one_budget
        draw(ax, group, ref, reference)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set(title=f"{dataset} {model} {pruner}", ylabel="top-1 change vs unpruned (points)")
        ax.legend(fontsize=7)
    return fig


def default_schedules() -> Dict[str, Any]:
    """The four schedules with the schema's defaults (the paper's settings)."""
    return {name: SCHEDULE_CONFS[name]() for name in ("ft", "lrw", "slr", "clr")}


def _from_columns(cls: type, row: pd.Series, prefix: str) -> Any:
    """A schema dataclass from a collected row's ``prefix.*`` columns; a null value (a field
    absent from that cell's config) falls back to the schema default."""
    values = {}
    for field in dataclasses.fields(cls):
        value = row.get(prefix + field.name)
        if isinstance(value, (list, np.ndarray)) or (value is not None and not pd.isna(value)):
            values[field.name] = list(value) if isinstance(value, np.ndarray) else value
    return cls(**values)


def schedules_of(frame: pd.DataFrame) -> Tuple[Any, Dict[str, Any], int | None]:
    """The recipe, the schedule configs and iterations per epoch that a sweep really ran."""
    first = frame.iloc[0]
    recipe = _from_columns(schema.RecipeConf, first, "config.recipe.")
    confs = {}
    for label in _ordered(frame["schedule"]):
        name, rows = label.partition("+")[0], frame[frame["schedule"] == label]
        if name in SCHEDULE_CONFS and name not in confs:  # a +kd label retrains on its schedule's rates
            confs[name] = _from_columns(SCHEDULE_CONFS[name], rows.iloc[0], "config.schedule.")
            decided = pd.to_numeric(rows.get("retraining.allr.lr", pd.Series(dtype=float)), errors="coerce").dropna()
            if name == "allr" and len(decided):  # the rate each cell decided after pruning: their mean
                confs[name] = dataclasses.replace(confs[name], peak_lr=float(decided.mean()))
            elif name == "allr":
                del confs[name]  # decided after pruning, and no cell recorded it
    steps = pd.to_numeric(frame["steps_per_epoch"], errors="coerce").dropna()
    return recipe, confs, (int(steps.iloc[0]) if len(steps) else None)


def lr_schedules(epochs: int, steps_per_epoch: int = CIFAR_STEPS_PER_EPOCH, recipe: Any = None,
                 schedules: Dict[str, Any] | None = None) -> Tuple[Figure, Dict[str, Dict[str, Line2D]]]:
    """Learning rate (log scale) and momentum of each schedule over a T-epoch budget, one
    point per iteration; returns the figure and its lines, ``{"lr": {name: line}, "momentum": ...}``."""
    recipe = recipe or schema.RecipeConf()
    schedules = schedules or default_schedules()
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    lr_ax, momentum_ax = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    lines: Dict[str, Dict[str, Line2D]] = {"lr": {}, "momentum": {}}
    for name, conf in schedules.items():
        try:  # ALLR's rate, decided after pruning, is not config
            validate(dataclasses.replace(conf, peak_lr=None) if conf.name == "allr" else conf, recipe, epochs)
        except ConfigError:  # e.g. LRW cannot rewind further than E: nothing to draw
            continue
        # Scratch-E runs E epochs, not T: drawn over them. Scratch-B's length (E x a FLOPs ratio) is per
        # pruned model, so no single curve stands for it: left out, its epochs are in each record.
        if conf.name == "scratch_b":
            continue
        length = {"scratch_e": recipe.epochs}.get(conf.name, epochs)
        steps = np.arange(length * steps_per_epoch)
        values = np.array([lr_momentum(int(s), steps_per_epoch, length, conf, recipe) for s in steps])
        x = steps / steps_per_epoch
        lines["lr"][name], = lr_ax.plot(x, values[:, 0], color=_colour(name), label=name.upper())
        lines["momentum"][name], = momentum_ax.plot(x, values[:, 1], color=_colour(name))
    lr_ax.set(yscale="log", ylabel="learning rate",
              title=f"retraining schedules, T = {epochs} epochs, {steps_per_epoch} iterations/epoch, E = {recipe.epochs}")
    momentum_ax.set(xlabel="epoch", ylabel="momentum")
    lr_ax.legend(fontsize=8)
    return fig, lines


def accuracy_vs_sparsity(frame: pd.DataFrame) -> Figure | None:
    """Final test top-1 against parameters removed; None when no cell records its sparsity."""
    done = _finished(frame)
    done = done[pd.to_numeric(done["model.sparsity"], errors="coerce").notna() & (done["config.pruner.name"] != "none")]
    if done.empty:
        return None
    done = done.assign(removed=100 * done["model.sparsity"].astype(float))
    groups = list(done.groupby(["dataset", "model", "T"], sort=True))
    fig, axes = _grid(len(groups))
    markers = dict(zip(sorted(done["config.pruner.name"].unique()), "osD^v<>"))
    for ax, ((dataset, model, epochs), group) in zip(axes, groups):
        for pruner, schedule in sorted(set(zip(group["config.pruner.name"], group["schedule"])),
                                       key=lambda ps: (ps[0], _ordered(group["schedule"]).index(ps[1]))):
            part = group[(group["config.pruner.name"] == pruner) & (group["schedule"] == schedule)]
            stats = part.groupby("pruner").agg(x=("removed", "mean"), y=("metrics.test_top1", "mean"),
                                               sd=("metrics.test_top1", "std")).sort_values("x")
            ax.errorbar(stats["x"], stats["y"], yerr=stats["sd"].to_numpy(float), marker=markers[pruner], ms=4,
                        capsize=3, color=_colour(schedule), ls="-" if pruner == "l1" else ":",
                        label=f"{pruner} {schedule.upper()}")
        ax.axhline(group["metrics.baseline_test_top1"].mean(), color="grey", ls="--", lw=0.8, label="unpruned")
        if group["removed"].round(6).nunique() == 1:  # one sparsity: the whole range, not a sliver of it
            ax.set_xlim(0, 100)
        ax.set(title=f"{dataset} {model} T={epochs}", xlabel="parameters removed (%)", ylabel="test top-1 (%)")
        ax.legend(fontsize=7)
    return fig


def write_figures(frame: pd.DataFrame, out: Path, lr_budget: int | None = None) -> List[Path]:
    """Every figure for a tidy frame into ``out``. The schedules are drawn as the sweep ran
    them (its recipe, schedule configs and epoch length) at ``lr_budget`` or its most common
    T; without cells, with the schema defaults at the paper's T = 72 on CIFAR-10."""
    paths: List[Path] = []
    for stem, fig in (("accuracy_change", accuracy_change(frame)), ("accuracy_vs_sparsity", accuracy_vs_sparsity(frame))):
        if fig is not None:
            paths += save(fig, out, stem)
    budgets = frame["T"].dropna() if len(frame) else pd.Series(dtype=int)
    if lr_budget is None:
        lr_budget = int(budgets.mode().iloc[0]) if len(budgets) else PAPER_BUDGET
    ran = frame[frame["T"] == lr_budget] if len(budgets) else frame.iloc[:0]
    recipe, confs, steps = schedules_of(ran if len(ran) else frame) if len(frame) else (None, None, None)
    fig, _ = lr_schedules(lr_budget, steps or CIFAR_STEPS_PER_EPOCH, recipe, confs)
    return paths + save(fig, out, "lr_schedules")
