"""``make tables``: the FT / LRW / SLR / CLR comparison table from collected records.

One row per (dataset, model, pruner, budget T); one column per schedule with the mean
and standard deviation of the final-epoch test top-1 over seeds, and n. The best
schedule of each row is marked with ``**``; with one seed (n=1) no spread is printed. For every schedule besides FT, the
seed-paired difference to FT is given with a ``*`` when its 95% bootstrap interval
(10,000 resamples of the paired differences, fixed seed) excludes zero; with fewer
than two pairs no interval is drawn. Cells that did not finish are listed apart.

Beside it: the reproduced-versus-published table (:mod:`benchmark.report.published`) and the
figures (:mod:`benchmark.report.figures`), all into ``--out``.

Usage: ``python -m benchmark.report.tables [RUN_FOLDERS...] [--out results] [--wandb-dirs DIR...]
[--wandb-project ENTITY/PROJECT [--wandb-group G]] [--lr-budget T] [--no-figures]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Sequence

import numpy as np
import pandas as pd

from benchmark.report import published
from benchmark.lm import LM_PRUNERS
from benchmark.pruning.spec import UNSTRUCTURED
from benchmark.report.collect import collect
from benchmark.report.metric import PERPLEXITY, TOP1, Metric
from benchmark.report.paired import by_seed, marked_mean, mean_sd, paired_differences
from benchmark.report.pruners import pruner_comparison, write_pruner_table
from benchmark.retraining.schedules import order_key
from benchmark.tasks import dataset_task, task_named

KEYS = ["dataset", "model", "pruner", "T"]


NO_PUBLISHED_MATCH = ("no cell matches a published setting (CIFAR-10; ResNet-56-B, ResNet-110-B or VGG-16-A "
                      "by pruner=l1 pruner.variant=...; schedule ft/lrw/slr/clr; T in 40..152)")
def _model_label(row: pd.Series) -> str:
    width = row.get("config.model.width", 1.0)
    return row["config.model.name"] + ("" if width == 1.0 else f"x{width:g}")


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def _pruner_label(row: pd.Series) -> str:
    """Name plus what sets its amount: a paper variant (``l1-B``), a sparsity, per-stage
    ratios with a skip list, or a uniform ratio; ``xR`` for R iterative rounds."""
    name = row["config.pruner.name"]
    if name == "none":
        return name
    variant, stage = row.get("config.pruner.variant"), row.get("config.pruner.stage_ratios")
    sparsity, target = row.get("config.pruner.sparsity"), row.get("config.pruner.target_reduction")
    allocation = row.get("config.pruner.allocation")
    if name == "nm":
        label = f"nm {row['config.pruner.n']:g}:{row['config.pruner.m']:g}"
    elif _present(variant):
        label = f"{name}-{variant}"
    elif _present(target):
        label = f"{name} -{100 * target:g}% {row.get('config.pruner.target_metric', 'params')}"
    elif _present(sparsity) and sparsity > 0 and name in UNSTRUCTURED + LM_PRUNERS:  # a filter pruner ignores it
        label = f"{name} s{sparsity:g}"
        pattern = row.get("config.pruner.pattern")
        label += f" {pattern}" if _present(pattern) and pattern != "unstructured" else ""
    else:
        label = f"{name} {stage}" if isinstance(stage, list) else f"{name} {row.get('config.pruner.ratio', 0):g}"
        skip = row.get("config.pruner.skip_layers")
        label += f" skip{skip}" if isinstance(skip, list) and skip else ""
    label += f" {allocation}" if _present(allocation) and allocation != "global" else ""
    rounds = row.get("config.pruner.rounds")
    return label + (f" x{int(rounds)}" if _present(rounds) and rounds > 1 else "")


def _schedule_label(row: pd.Series) -> str:
    """``clr_lrw`` (CLR with its max lr by the LRW rule) is a schedule of its own in the tables, and so is
    a schedule retrained with distillation (``clr+kd``); recorded LRW replays are ``lrw`` (equal on step recipes)."""
    name = row["config.schedule.name"]
    label = "clr_lrw" if name == "clr" and row.get("config.schedule.max_lr_rule") == "lrw" else name
    return label + ("+kd" if row.get("config.distill.name") == "kd" else "")


NUMERIC_COLUMNS = ["metrics.test_top1", "metrics.baseline_test_top1", "metrics.pruned_test_top1", "model.params_before",
                   "model.params_after", "model.flops_before", "model.flops_after", "model.sparsity",
                   "metrics.test_ppl", "metrics.baseline_test_ppl", "metrics.pruned_test_ppl", "metrics.ppl_floor"]


def baselines(group: pd.DataFrame, column: str = "metrics.baseline_test_top1", stage: str = "baseline") -> str:
    """The baselines' accuracy, one value per distinct baseline model: with ``seed=linked`` each
    seed trains its own (its spread is part of the schedules'), otherwise the row shares one (n=1).
    A run known only to W&B has no baseline identity; within a row its baseline seed tells them apart
    (both are core columns of :func:`benchmark.report.collect.frame_of`). ``stage="pruned"``: the
    same over the distinct pruned models (``column`` then their accuracy before retraining)."""
    seed = {"baseline": "seeds.baseline", "pruned": "seeds.prune"}[stage]
    model = group[f"identity.{stage}"].fillna("seed " + group[seed].astype(str))
    accuracy = pd.DataFrame({"model": model, "acc": group[column]}).dropna()
    return mean_sd(accuracy.drop_duplicates("model")["acc"]) if len(accuracy) else ""


def _fixed(value: float, digits: int) -> str:
    """A number with ``digits`` decimals; empty when unknown (a record without model counts)."""
    return "" if pd.isna(value) else f"{value:.{digits}f}"


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """The collected frame with readable key columns added, and numbers as numbers (a record
    of an older version may lack a column, or hold something else in it)."""
    frame = frame.copy()
    for column in NUMERIC_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce") if column in frame else np.nan
    frame["dataset"] = frame["config.dataset.name"]
    frame["model"] = frame.apply(_model_label, axis=1)
    frame["pruner"] = frame.apply(_pruner_label, axis=1)
    frame["variant"] = frame["config.pruner.variant"] if "config.pruner.variant" in frame else None
    frame["T"] = pd.to_numeric(frame["budget_epochs"], errors="coerce").astype("Int64")
    frame["schedule"] = frame.apply(_schedule_label, axis=1)
    frame["regime"] = frame["config.retrain.params"].fillna("all") if "config.retrain.params" in frame else "all"
    if "config.retrain.objective" in frame:  # the reconstruction objective is a regime of its own
        frame["regime"] = np.where(frame["config.retrain.objective"] == "reconstruct",
                                   frame["regime"] + " reconstruct", frame["regime"])
    # Each row's headline metric is its task's (benchmark.tasks), read from the record's dataset.
    frame["task"] = frame["config.dataset.name"].map(dataset_task)
    frame["metric"] = frame["task"].map(lambda name: task_named(name).metric)
    return frame


def _paired_difference(group: pd.DataFrame, schedule: str, metric: Metric = TOP1) -> str:
    """The seed-paired gain of ``schedule`` over FT, signed so that positive is better: X - FT for
    a higher-is-better metric, FT - X for a lower-is-better one (the column is named so)."""
    return marked_mean(metric.advantage(paired_differences(group, schedule, "ft", value=metric.column), 0.0).to_numpy())


def ordering(group: pd.DataFrame, metric: Metric = TOP1) -> str:
    """The schedules by mean accuracy, and in how many seeds exactly that order holds: the
    ranking is the claim, and a claim that holds in 1 of 3 seeds is not one. Schedules equal in
    every seed (LRW is FT when T <= E minus the last milestone) are one rank, ``FT = LRW``."""
    seeds = by_seed(group, value=metric.column).dropna() * metric.sign  # better is larger from here on
    if seeds.shape[1] < 2 or seeds.empty:
        return ""
    ranks: List[List[str]] = []
    for schedule in seeds.mean().sort_values(ascending=False, kind="stable").index:
        if ranks and (seeds[schedule] == seeds[ranks[-1][0]]).all():
            ranks[-1].append(schedule)
        else:
            ranks.append([schedule])
    firsts = [rank[0] for rank in ranks]
    agree = sum(all(row[a] > row[b] for a, b in zip(firsts, firsts[1:])) for _, row in seeds.iterrows())
    text = " > ".join(" = ".join(s.upper() for s in rank) for rank in ranks)
    return f"{text} ({agree}/{len(seeds)} seeds)"


def difference_label(schedule: str, metric: Metric) -> str:
    """``CLR-FT`` (accuracy) or ``FT-CLR`` (perplexity): the column always reads "gain over FT"."""
    return f"{schedule.upper()}-FT" if metric.higher_is_better else f"FT-{schedule.upper()}"


def _gap_closed(group: pd.DataFrame, best: str, metric: Metric) -> str:
    """How much of the one-shot pruning loss (pruned - dense) the best schedule wins back, in percent."""
    base, pruned = (group[c].mean() for c in (metric.baseline_column, metric.pruned_column))
    value = group.loc[group["schedule"] == best, metric.column].mean()
    return "" if pd.isna(pruned) or pruned == base else f"{100 * (pruned - value) / (pruned - base):.0f}%"


def comparison(frame: pd.DataFrame, metric: Metric = TOP1) -> pd.DataFrame:
    """The comparison table: rows by KEYS (and the metric's own keys), columns per schedule, context columns."""
    done = frame[frame["status"] == "finished"]
    if "metric" in done:
        done = done[done["metric"] == metric.key]
    value = metric.column
    keys = KEYS + list(metric.keys)
    schedules = sorted(set(done["schedule"]), key=order_key)
    rows = []
    for key_values, group in done.groupby(keys, sort=True):
        row = dict(zip(keys, key_values))
        if metric.higher_is_better:
            row["baseline"] = baselines(group)
        else:  # the dense and one-shot pruned models, and the data's floor where it is known
            row["dense"] = _fixed(group[metric.baseline_column].mean(), 2)
            row["pruned"] = _fixed(group[metric.pruned_column].mean(), 2)
            row["floor"] = _fixed(group["metrics.ppl_floor"].mean(), 2) if "metrics.ppl_floor" in group else ""
        row["params -%"] = _fixed(100 * (1 - group["model.params_after"] / group["model.params_before"]).mean(), 1)
        if metric.higher_is_better:
            row["FLOPs -%"] = _fixed(100 * (1 - group["model.flops_after"] / group["model.flops_before"]).mean(), 1)
        means = group.groupby("schedule")[value].mean()
        best = (means.idxmax() if metric.higher_is_better else means.idxmin()) if len(means) else None
        for schedule in schedules:
            acc = group.loc[group["schedule"] == schedule, value]
            if acc.empty:
                row[schedule.upper()] = ""
                continue
            text = mean_sd(acc)
            row[schedule.upper()] = f"**{text}**" if schedule == best and len(means) > 1 else text
        for schedule in schedules:
            if schedule != "ft":
                row[difference_label(schedule, metric)] = _paired_difference(group, schedule, metric)
        row["order (seeds where it holds)"] = ordering(group, metric)
        if not metric.higher_is_better and best is not None:
            row["gap closed (best)"] = _gap_closed(group, best, metric)
        rows.append(row)
    return pd.DataFrame(rows)


def unfinished(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells that did not finish: diverged, failed or still running."""
    rest = frame[frame["status"] != "finished"]
    columns = [c for c in ["identity.cell", "name", "status", "diverged.stage", "diverged.epoch", "path"] if c in rest]
    return rest[columns]


def write_tables(table: pd.DataFrame, problems: pd.DataFrame, out: Path, metric: Metric = TOP1,
                 stem: str = "comparison") -> List[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.md", out / f"{stem}.csv", out / f"{stem}.tex"]
    text = [f"# {metric.title}", "", table.to_markdown(index=False, disable_numparse=True), ""]
    if metric.higher_is_better:
        text += ["Mean ± std over seeds (n; with n=1 no spread is shown). **Best** schedule per row.",
                 "Baseline: over the distinct baseline models (n=1 when the row's seeds share one).",
                 "X-FT: seed-paired mean difference to FT; `*` = its 95% bootstrap interval excludes 0",
                 "(needs >= 2 paired seeds). Order: schedules by mean, and the seeds in which that exact order holds.", ""]
    else:
        text += ["Mean ± std over seeds (n). Lower is better: **best** is the lowest; the order reads best first.",
                 "dense / pruned: the model before pruning and right after one-shot pruning; floor: exp of the",
                 "corpus's exact conditional entropy per prediction (the built-in Markov source), unreachable in expectation.",
                 "FT-X: seed-paired mean of FT minus X, so positive means X beats FT; `*` = 95% bootstrap interval excludes 0.",
                 "gap closed: (pruned - best) / (pruned - dense), the share of the pruning loss the best schedule recovers.", ""]
    if len(problems):
        text += ["## Cells that did not finish", "", problems.to_markdown(index=False), ""]
    paths[0].write_text("\n".join(text))
    table.to_csv(paths[1], index=False)
    paths[2].write_text(table.to_latex(index=False).replace("**", ""))
    return paths


def write_published(rows: pd.DataFrame, out: Path) -> List[Path]:
    """The reproduced-versus-published table: numbers in CSV, formatted in Markdown and LaTeX."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "published.md", out / "published.csv", out / "published.tex"]
    text = ["# Reproduced versus published: CIFAR-10 accuracy change (points)", ""]
    if rows.empty:
        text += [NO_PUBLISHED_MATCH, ""]
    else:
        text += [published.as_text(rows).to_markdown(index=False, disable_numparse=True), "", published.describe(), ""]
    paths[0].write_text("\n".join(text))
    rows.to_csv(paths[1], index=False)
    paths[2].write_text(published.as_text(rows).to_latex(index=False) if len(rows) else f"% {NO_PUBLISHED_MATCH}\n")
    return paths


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", default=["outputs"], help="folders searched for record.json")
    parser.add_argument("--out", default="results", help="where the tables and figures are written")
    parser.add_argument("--wandb-dirs", nargs="*", default=[], metavar="DIR",
                        help="folders searched for local W&B run folders (offline runs included)")
    parser.add_argument("--wandb-project", metavar="ENTITY/PROJECT", help="also read this W&B project's runs")
    parser.add_argument("--wandb-group", help="only the runs of this W&B group (with --wandb-project)")
    parser.add_argument("--lr-budget", type=int, help="T of the learning-rate figure (default: the sweep's most common)")
    parser.add_argument("--no-figures", action="store_true", help="tables only")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    frame = collect([Path(p) for p in args.runs], [Path(p) for p in args.wandb_dirs], args.wandb_project, args.wandb_group)
    if frame.empty:
        sources = ", ".join(args.runs + args.wandb_dirs + ([args.wandb_project] if args.wandb_project else []))
        skipped = frame.attrs.get("skipped", [])
        if skipped:
            print(f"{len(skipped)} record(s) found under {sources}, none readable as a cell "
                  "(each skipped above, with why)", file=sys.stderr)
        else:
            print(f"no records found under {sources}: run a sweep first (make demo)", file=sys.stderr)
        return 1
    frame = tidy(frame)
    problems, out, paths = unfinished(frame), Path(args.out), []
    vision = frame[frame["metric"] == TOP1.key]
    if (frame["metric"] == PERPLEXITY.key).any():  # the text task's cells: their own table
        lm_table = comparison(frame, PERPLEXITY)
        print(lm_table.to_markdown(index=False, disable_numparse=True))
        paths += write_tables(lm_table, problems, out, PERPLEXITY, stem="comparison_lm")
        if vision.empty:
            print("\nwrote " + ", ".join(map(str, paths)))
            return 0
        frame = vision
    table = comparison(frame)
    print(table.to_markdown(index=False, disable_numparse=True))
    if len(problems):
        print(f"\n{len(problems)} cell(s) did not finish:\n" + problems.to_markdown(index=False))
    paths += write_tables(table, problems, out)
    by_pruner = pruner_comparison(frame)
    if len(by_pruner):  # two pruners or more at one sparsity, budget and schedule (the sparsity presets)
        print("\n" + by_pruner.to_markdown(index=False, disable_numparse=True))
        paths += write_pruner_table(by_pruner, out)
    versus = published.reproduced_vs_published(frame)
    print("\n" + (published.as_text(versus).to_markdown(index=False, disable_numparse=True) if len(versus) else NO_PUBLISHED_MATCH))
    paths += write_published(versus, out)
    if not args.no_figures:
        from benchmark.report.figures import (
            write_figures,  # matplotlib only when drawing
        )

        paths += write_figures(frame, out, args.lr_budget)
    print("\nwrote " + ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
