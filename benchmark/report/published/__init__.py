"""The study's published numbers (``../shared/paper.md``) as data, and the suite beside them.

The CSV files beside this module are the paper's tables, transcribed once; nothing here
hard-codes a number. :func:`reproduced_vs_published` puts the suite's mean accuracy
change (retrained test top-1 minus the unpruned baseline's, in points) beside the
published change for every matching CIFAR-10 cell.

When do they disagree? The run-to-run spread of a row is ``2 x sd``, the sample
standard deviation (ddof=1) of the suite's per-seed accuracy changes. A row is marked
``!`` when ``|suite - published| > 2 x sd + 0.03``, the 0.03 being how precisely the
published values could be read off the paper's figure. With one seed the spread is
unknown and no row is marked (its n says so).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

SPREAD_SDS = 2.0  # the spread is this many standard deviations over seeds
READ_OFF = 0.03  # precision of values read off the published figure
FILES = ("cifar10_accuracy_change", "imagenet_taylor_fo_bn", "imagenet_l1_clr_vs_dcp")
MATCH = ["model", "variant", "schedule", "T"]


def load(name: str) -> pd.DataFrame:
    """One published table by file stem (see ``FILES``); ``#`` lines are its provenance."""
    if name not in FILES:
        raise ValueError(f"published table {name!r} does not exist; valid: {', '.join(FILES)}")
    with resources.files(__name__).joinpath(f"{name}.csv").open() as handle:
        return pd.read_csv(handle, comment="#")


def suite_changes(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (model, variant, schedule, T) of finished CIFAR-10 L1 cells: n, mean and sd of
    the per-seed accuracy change. ``frame`` is :func:`benchmark.report.tables.tidy`'s output."""
    done = frame[(frame["status"] == "finished") & (frame["dataset"] == "cifar10")
                 & (frame["config.pruner.name"] == "l1") & frame["variant"].notna()]
    top1, baseline = (pd.to_numeric(done[c], errors="coerce") for c in ("metrics.test_top1", "metrics.baseline_test_top1"))
    done = done.assign(change=top1 - baseline)  # numeric even when a W&B-only column holds objects
    stats = done.groupby(MATCH)["change"].agg(n="count", change="mean", sd="std").reset_index()
    stats["T"] = stats["T"].astype(int)
    return stats


def reproduced_vs_published(frame: pd.DataFrame) -> pd.DataFrame:
    """Suite and published accuracy change side by side, one row per matched cell group."""
    published = load("cifar10_accuracy_change").rename(columns={"delta": "published"})
    rows = suite_changes(frame).merge(published, on=MATCH, how="inner")
    rows["difference"] = rows["change"] - rows["published"]
    rows["spread"] = np.where(rows["n"] >= 2, SPREAD_SDS * rows["sd"], np.nan)
    rows["disagrees"] = (rows["n"] >= 2) & (rows["difference"].abs() > rows["spread"] + READ_OFF)
    order = {name: i for i, name in enumerate(published["schedule"].unique())}  # the paper's: FT first
    rows = rows.assign(_order=rows["schedule"].map(order)).sort_values(["model", "variant", "T", "_order"])
    return rows[MATCH + ["n", "change", "sd", "published", "difference", "spread", "disagrees"]].reset_index(drop=True)


def as_text(rows: pd.DataFrame) -> pd.DataFrame:
    """The comparison formatted for Markdown and LaTeX: two decimals, ``!`` on disagreements."""
    text = pd.DataFrame({key: rows[key].astype(str) for key in MATCH})
    text["n"] = rows["n"].astype(int).astype(str)
    text["suite"] = [f"{c:+.2f} ± {s:.2f}" if n > 1 else f"{c:+.2f}" for c, s, n in zip(rows["change"], rows["sd"], rows["n"])]
    text["published"] = rows["published"].map("{:+.2f}".format)
    text["difference"] = [f"{d:+.2f}" + (" !" if bad else "") for d, bad in zip(rows["difference"], rows["disagrees"])]
    text["spread (2 sd)"] = ["n=1: unknown" if n < 2 else f"{s:.2f}" for s, n in zip(rows["spread"], rows["n"])]
    return text


def describe() -> str:
    """The note printed under the table: what the columns and the mark mean."""
    return (f"Accuracy change = retrained test top-1 minus the unpruned baseline's (points), CIFAR-10, "
            f"L1 pruning. suite: mean ± sd over seeds (n). `!`: |difference| > {SPREAD_SDS:g} sd + "
            f"{READ_OFF} (the published values' read-off precision); with n=1 the spread is unknown "
            f"and nothing is marked.")
