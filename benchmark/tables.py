"""``make tables``: the FT / LRW / SLR / CLR comparison table from collected records.

One row per (dataset, model, pruner, budget T); one column per schedule with the mean
and standard deviation of the final-epoch test top-1 over seeds, and n. The best
schedule of each row is marked with ``**``. For every schedule besides FT, the
seed-paired difference to FT is given with a ``*`` when its 95% bootstrap interval
(10,000 resamples of the paired differences, fixed seed) excludes zero; with fewer
than two pairs no interval is drawn. Cells that did not finish are listed apart.

Usage: ``python -m benchmark.tables [RUN_FOLDERS...] [--out results]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Sequence

import numpy as np
import pandas as pd

from benchmark.collect import collect

SCHEDULE_ORDER = ["ft", "lrw", "slr", "clr"]
KEYS = ["dataset", "model", "pruner", "T"]
SEED_KEYS = ["config.seed.baseline", "config.seed.prune", "config.seed.retrain"]


def _model_label(row: pd.Series) -> str:
    width = row.get("config.model.width", 1.0)
    return row["config.model.name"] + ("" if width == 1.0 else f"x{width:g}")


def _pruner_label(row: pd.Series) -> str:
    name = row["config.pruner.name"]
    if name == "none":
        return name
    stage = row.get("config.pruner.stage_ratios")
    label = f"{name} {stage}" if isinstance(stage, list) else f"{name} {row.get('config.pruner.ratio', 0):g}"
    skip = row.get("config.pruner.skip_layers")
    return label + (f" skip{skip}" if isinstance(skip, list) and skip else "")


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """The collected frame with readable key columns added."""
    frame = frame.copy()
    frame["dataset"] = frame["config.dataset.name"]
    frame["model"] = frame.apply(_model_label, axis=1)
    frame["pruner"] = frame.apply(_pruner_label, axis=1)
    frame["T"] = frame["budget_epochs"].astype(int)
    frame["schedule"] = frame["config.schedule.name"]
    return frame


def bootstrap_interval(diffs: np.ndarray, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of paired differences."""
    rng = np.random.default_rng(seed)
    means = rng.choice(diffs, size=(resamples, len(diffs)), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _paired_difference(group: pd.DataFrame, schedule: str) -> str:
    by_seed = group.pivot_table(index=SEED_KEYS, columns="schedule", values="metrics.test_top1")
    if "ft" not in by_seed or schedule not in by_seed:
        return ""
    diffs = (by_seed[schedule] - by_seed["ft"]).dropna().to_numpy()
    if len(diffs) == 0:
        return ""
    mark = ""
    if len(diffs) >= 2:
        low, high = bootstrap_interval(diffs)
        mark = "*" if low > 0 or high < 0 else ""
    return f"{diffs.mean():+.2f}{mark}"


def comparison(frame: pd.DataFrame) -> pd.DataFrame:
    """The comparison table: rows by KEYS, columns per schedule, plus context columns."""
    done = frame[frame["status"] == "finished"]
    schedules = [s for s in SCHEDULE_ORDER if s in set(done["schedule"])]
    schedules += sorted(set(done["schedule"]) - set(schedules))
    rows = []
    for keys, group in done.groupby(KEYS, sort=True):
        row = dict(zip(KEYS, keys))
        row["baseline"] = f"{group['metrics.baseline_test_top1'].mean():.2f}"
        row["params -%"] = f"{100 * (1 - group['model.params_after'] / group['model.params_before']).mean():.1f}"
        row["FLOPs -%"] = f"{100 * (1 - group['model.flops_after'] / group['model.flops_before']).mean():.1f}"
        means = group.groupby("schedule")["metrics.test_top1"].mean()
        best = means.idxmax() if len(means) else None
        for schedule in schedules:
            acc = group.loc[group["schedule"] == schedule, "metrics.test_top1"]
            if acc.empty:
                row[schedule.upper()] = ""
                continue
            std = acc.std(ddof=1) if len(acc) > 1 else 0.0
            text = f"{acc.mean():.2f} ± {std:.2f} (n={len(acc)})"
            row[schedule.upper()] = f"**{text}**" if schedule == best and len(means) > 1 else text
        for schedule in schedules:
            if schedule != "ft":
                row[f"{schedule.upper()}-FT"] = _paired_difference(group, schedule)
        rows.append(row)
    return pd.DataFrame(rows)


def unfinished(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells that did not finish: diverged, failed or still running."""
    rest = frame[frame["status"] != "finished"]
    columns = [c for c in ["identity.cell", "name", "status", "diverged.stage", "diverged.epoch", "path"] if c in rest]
    return rest[columns]


def write_tables(table: pd.DataFrame, problems: pd.DataFrame, out: Path) -> List[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "comparison.md", out / "comparison.csv", out / "comparison.tex"]
    text = ["# Final test top-1 (%) after retraining, by schedule", "", table.to_markdown(index=False, disable_numparse=True), ""]
    text += ["Mean ± std over seeds (n). **Best** schedule per row. X-FT: seed-paired mean difference to FT;",
             "`*` = its 95% bootstrap interval excludes 0 (needs >= 2 paired seeds).", ""]
    if len(problems):
        text += ["## Cells that did not finish", "", problems.to_markdown(index=False), ""]
    paths[0].write_text("\n".join(text))
    table.to_csv(paths[1], index=False)
    paths[2].write_text(table.to_latex(index=False).replace("**", ""))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", default=["outputs"], help="folders searched for record.json")
    parser.add_argument("--out", default="results", help="where the tables are written")
    args = parser.parse_args(argv)
    frame = collect(Path(p) for p in args.runs)
    if frame.empty:
        print(f"no records found under {', '.join(args.runs)}: run a sweep first (make demo)", file=sys.stderr)
        return 1
    frame = tidy(frame)
    table, problems = comparison(frame), unfinished(frame)
    print(table.to_markdown(index=False, disable_numparse=True))
    if len(problems):
        print(f"\n{len(problems)} cell(s) did not finish:\n" + problems.to_markdown(index=False))
    paths = write_tables(table, problems, Path(args.out))
    print("\nwrote " + ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
