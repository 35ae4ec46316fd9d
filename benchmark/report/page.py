"""The findings report as one self-contained HTML page: jinja2 text, matplotlib figures inline.

Self-contained means it opens from a file with no server and no network: no stylesheet, script
or font is fetched, figures are inline SVG, and the only links are relative ones to the records
(``record.json``) next to it. It is a pure function of the records: the same records give the
same bytes (no date, SVG ids from a fixed salt, every table sorted), so a regenerated report
that did not change does not show as changed.

Numbers read from one record link to that record; numbers computed from several (a mean, an
advantage, an interval) link to the per-seed table they were computed from, whose numbers link
to their records.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import quote

import jinja2
import matplotlib
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from benchmark.report import claims as claims_mod
from benchmark.report import regime
from benchmark.report.metric import TOP1, Metric
from benchmark.report.paired import mean_sd
from benchmark.report.tables import baselines

TEMPLATES = Path(__file__).parent / "templates"
SVG_SETTINGS = {"svg.hashsalt": "findings", "svg.fonttype": "none"}  # fixed ids, text as text: same bytes
ENVIRONMENT = {"commit": "environment.git.commit", "dirty": "environment.git.dirty", "torch": "environment.packages.torch",
               "device": "environment.device.type", "GPU": "environment.device.name",
               "threads": "environment.device.threads", "precision": "environment.precision",
               "CPU": "environment.device.cpu_model", "ISA": "environment.device.cpu_isa"}
SECONDS = ["seconds.baseline", "seconds.prune", "seconds.retrain", "seconds.cell"]


def svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element for inline use: no XML prolog, doctype, metadata or
    namespace URIs (an HTML parser places inline SVG in its namespace without them)."""
    buffer = io.StringIO()
    with matplotlib.rc_context(SVG_SETTINGS):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r' xmlns(:xlink)?="[^"]*"', "", text)
    return text.replace("xlink:href=", "href=")


def href(path: Any, out: Path) -> str:
    """A record's path relative to the report's folder, as a URL path; an ``#anchor`` as is."""
    if not isinstance(path, str) or not path:
        return ""
    if path.startswith("#"):
        return path
    relative = os.path.relpath(Path(path).resolve(), out.resolve())
    return quote(Path(relative).as_posix(), safe="/+=,._-~")


def number(value: Any, link: str, cell: Any = None, column: str = "", digits: int = 2, sign: str = "") -> Dict[str, Any]:
    """One linked number for the template (``sign="+"``: always signed, for advantages); empty when unknown."""
    missing = value is None or (isinstance(value, float) and pd.isna(value))
    text = "" if missing else (f"{value:{sign}.{digits}f}" if isinstance(value, float) else str(value))
    return {"text": text, "href": link, "cell": "" if cell is None or pd.isna(cell) else str(cell), "column": column}


def _pair_rows(comparison: claims_mod.Comparison, metric: Metric, out: Path) -> List[Dict[str, Any]]:
    rows = []
    for i, pair in enumerate(comparison.pairs.to_dict("records")):
        arm, ref = href(pair["arm_href"], out), href(pair["reference_href"], out)
        cells = [number(pair.get("arm_dense"), arm, pair.get("arm_cell"), metric.baseline_column),
                 number(pair.get("arm_pruned"), arm, pair.get("arm_cell"), metric.pruned_column),
                 number(pair.get("reference_pruned"), ref, pair.get("reference_cell"), metric.pruned_column),
                 number(pair["arm"], arm, pair.get("arm_cell"), metric.column),
                 number(pair["reference"], ref, pair.get("reference_cell"), metric.column),
                 number(pair["advantage"], f"#{comparison.anchor}-{i}", column="advantage", sign="+")]
        holds = bool(comparison.seed_holds().iloc[i])
        rows.append({"id": f"{comparison.anchor}-{i}", "seed": pair["seed"], "numbers": cells, "holds": holds})
    return rows


def comparison_view(comparison: claims_mod.Comparison, metric: Metric, out: Path, regime_of_all: str = "") -> Dict[str, Any]:
    """A claim's table row, its verdict and its per-seed table, every number linked. ``regime_of_all``:
    what is said of the baselines where a row has no cells of its own (claim 3's derived gaps)."""
    cells, own = comparison.cells, f"#{comparison.anchor}"
    stats = {"arm": "", "reference": "", "dense": "", "arm_pruned": "", "reference_pruned": ""}
    if len(cells):
        arm, ref = cells[cells["_arm"] == "arm"], cells[cells["_arm"] == "reference"]
        stats = {"arm": mean_sd(arm[metric.column]) if len(arm) else "",
                 "reference": mean_sd(ref[metric.column]) if len(ref) else "",
                 "dense": baselines(cells, metric.baseline_column),
                 "arm_pruned": baselines(arm, metric.pruned_column, stage="pruned") if len(arm) else "",
                 "reference_pruned": baselines(ref, metric.pruned_column, stage="pruned") if len(ref) else ""}
    elif len(comparison.pairs):  # a comparison of derived values (claim 3's gaps): their own spread
        stats |= {side: mean_sd(comparison.pairs[side]) for side in ("arm", "reference")}
    advantage = comparison.pairs["advantage"]
    interval = comparison.interval
    return {
        "anchor": comparison.anchor, "setting": comparison.setting, "arm": comparison.arm,
        "reference": comparison.reference, "kind": comparison.kind, "stats": stats, "href": own,
        "advantage": number(float(advantage.mean()) if len(advantage) else None, own, column="advantage", sign="+"),
        "interval": "" if interval is None else f"[{interval[0]:+.2f}, {interval[1]:+.2f}]",
        "verdict": comparison.verdict, "verdict_text": comparison.verdict_text(), "absent": comparison.absent,
        "regime": regime.regime_note(cells) if len(cells) else regime_of_all,
        "pairs": _pair_rows(comparison, metric, out),
    }


def environments(frame: pd.DataFrame, out: Path) -> List[Dict[str, Any]]:
    """The distinct environments the cells ran in, each value linked to the first record holding it."""
    present = {k: c for k, c in ENVIRONMENT.items() if c in frame}
    if not present:
        return []
    table = frame[list(present.values()) + ["path", "name"]].astype(object).where(lambda f: f.notna(), "not recorded")
    rows = []
    for values, part in table.groupby(list(present.values()), sort=True, dropna=False):
        first = part.sort_values("path").iloc[0]["path"]
        values = values if isinstance(values, tuple) else (values,)
        # A column with a gap (an older record) holds floats: 2.0 threads print as 2.
        rows.append({"values": [number(int(v) if isinstance(v, float) and v.is_integer() else v, href(first, out))
                                for v in values],
                     "cells": len(part)})
    return [{"header": list(present), "rows": rows}]


def wall_times(frame: pd.DataFrame, out: Path) -> List[Dict[str, Any]]:
    """Seconds per stage of every cell, each linked to its record."""
    rows = []
    for row in frame.sort_values(["name", "identity.cell"], kind="stable").to_dict("records"):
        link = href(row["path"], out)
        seconds = [number(pd.to_numeric(row.get(c), errors="coerce"), link, row["identity.cell"], c, 1) for c in SECONDS]
        rows.append({"name": row["name"] or row["identity.cell"], "status": row["status"], "href": link, "seconds": seconds})
    return rows


def figures_svg(frame: pd.DataFrame, metric: Metric) -> List[Dict[str, str]]:
    """The accuracy-against-budget and accuracy-against-sparsity figures of ``make tables``."""
    if metric != TOP1:
        return []
    from benchmark.report import figures

    drawn = [("Top-1 change against the retraining budget T, per schedule", figures.accuracy_change(frame)),
             ("Top-1 against the fraction of parameters removed", figures.accuracy_vs_sparsity(frame))]
    return [{"title": title, "svg": svg(fig)} for title, fig in drawn if fig is not None]


def _verdict_text(convergence: Dict[str, Any] | None) -> str:
    if not convergence:
        return "not recorded (a record from before the convergence rule)"
    figures = [f"final train top-1 {convergence['final_train_top1']:.2f}%" if convergence.get("final_train_top1") is not None else "",
               f"lr at its final value for {convergence['epochs_at_final_lr']} of the last {convergence['final_epochs']} epochs"
               if convergence.get("epochs_at_final_lr") is not None else "",
               f"validation top-1 moved {convergence['late_change']:+.2f} points over them"
               if convergence.get("late_change") is not None and not pd.isna(convergence.get("late_change")) else ""]
    head = "converged" if convergence.get("converged") else "not converged"
    reasons = convergence.get("reasons")
    why = "; ".join(reasons) if isinstance(reasons, list) and reasons and not convergence.get("converged") else ""
    return f"{head}: " + ", ".join(f for f in figures if f) + (f" ({why})" if why else "")


def baseline_section(frame: pd.DataFrame, out: Path) -> List[Dict[str, Any]]:
    """Each distinct baseline: its curve (inline SVG), its verdict, a link to a record holding it."""
    views = []
    for view in regime.baseline_views(frame):
        title = f"{view['model']} baseline, seed {view['seed']}"
        figure = svg(regime.curve_figure(view["curve"], title)) if view["curve"] else ""
        views.append({"title": title, "identity": view["identity"], "href": href(view["path"], out), "svg": figure,
                      "converged": bool(view["convergence"] and view["convergence"].get("converged")),
                      "verdict": _verdict_text(view["convergence"])})
    return views


def render(claims: List[claims_mod.Claim], frame: pd.DataFrame, absent: pd.DataFrame, metric: Metric, out: Path,
           sources: List[str]) -> str:
    """The report's HTML text."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    absent_rows = [{**row, "href": href(row["path"], out)} for row in
                   absent.drop(columns=[c for c in absent if c.startswith("config.")]).to_dict("records")]
    whole = regime.regime_note(frame[frame["status"] == "finished"]) if "identity.baseline" in frame else ""
    epochs = {}
    if "config.recipe.epochs" in frame:
        for model, e in frame[["model", "config.recipe.epochs"]].dropna().drop_duplicates("model").itertuples(index=False):
            epochs[str(model)] = int(e)
    context = {
        "regime": whole, "baselines": baseline_section(frame, out),
        "paper_rows": regime.paper_rows(claims[0].comparisons, epochs) if claims and metric == TOP1 else [],
        "metric": metric, "sources": sources, "records": len(frame),
        "finished": int((frame["status"] == "finished").sum()),
        "claims": [{"claim": c, "summary": c.summary(), "rows": [comparison_view(r, metric, out, whole) for r in c.comparisons]}
                   for c in claims],
        "absent": absent_rows, "figures": figures_svg(frame, metric),
        "environments": environments(frame, out), "wall_times": wall_times(frame, out),
    }
    return env.get_template("findings.html.j2").render(**context, markup=Markup)
