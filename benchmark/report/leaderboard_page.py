"""The leaderboard as one self-contained page: the findings page's rules (:mod:`benchmark.report.page`).

No stylesheet, script or font is fetched; the rank chart is inline SVG with a fixed hash salt and
text kept as text; the only links are relative ones to the records and anchors within the page.
Every number read from one record (a cell's final or pruned accuracy, a FLOPs reduction, a dense
baseline) links to that ``record.json``; every number computed from several (a mean, a rank, a
tau, a spread, a gap) links to the per-seed table it was computed from. Nothing but the records
goes in, and every table is sorted, so the same records give the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import jinja2
from markupsafe import Markup
from matplotlib.figure import Figure

from benchmark.report import leaderboard_text as text
from benchmark.report import ranking
from benchmark.report.board import BEFORE, REFERENCE, STANDARD, TOLERANCE, Leaderboard
from benchmark.report.page import TEMPLATES, environments, href, number, svg, wall_times
from benchmark.retraining.schedules import order_key


def anchor(column: str) -> str:
    """The per-seed table of a column: ``#seeds-ft``, ``#seeds-before``."""
    return "#seeds-" + ("before" if column == BEFORE else column)


def chart_columns(board: Leaderboard) -> List[str]:
    """Before retraining, FT, CLR side by side (the segment the question is about), then the rest."""
    first = [c for c in (BEFORE, REFERENCE, STANDARD) if c in board.columns]
    return first + sorted((c for c in board.schedules if c not in first), key=order_key)


def rank_chart(board: Leaderboard) -> Optional[Figure]:
    """Each criterion's rank in each column, joined by lines: the FT -> CLR segment drawn bold."""
    columns = chart_columns(board)
    if len(columns) < 2:
        return None
    standings = {c: board.standings(c) for c in columns}
    k = len(board.criteria)
    fig = Figure(figsize=(2.0 * len(columns) + 3.4, 0.42 * k + 1.6), layout="constrained")
    ax = fig.subplots()
    bold = (columns.index(REFERENCE), columns.index(STANDARD)) if {REFERENCE, STANDARD} <= set(columns) else None
    for i, criterion in enumerate(board.criteria):
        ranks = [standings[c][criterion].rank for c in columns]
        colour, style = ("black", "--") if criterion == board.random_criterion() else (f"C{i % 10}", "-")
        ax.plot(range(len(columns)), ranks, style, color=colour, linewidth=1.0, marker="o", markersize=4, alpha=0.8)
        if bold is not None:
            ax.plot(bold, [ranks[bold[0]], ranks[bold[1]]], style, color=colour, linewidth=2.6)
        ax.text(-0.12, ranks[0], f"{criterion} ({ranks[0]:g})", ha="right", va="center", fontsize=8, color=colour)
        ax.text(len(columns) - 0.88, ranks[-1], f"({ranks[-1]:g}) {criterion}", ha="left", va="center", fontsize=8,
                color=colour)
    ax.set_xticks(range(len(columns)), [text.name(c) for c in columns])
    ax.set_xlim(-1.6, len(columns) + 0.6)
    ax.set_ylim(k + 0.5, 0.5)  # rank 1 on top
    ax.set_yticks(range(1, k + 1))
    ax.set_ylabel("rank (1 = best; ties share the average)")
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def _per_seed(board: Leaderboard, column: str, out: Path) -> Dict[str, Any]:
    """One column's criteria x seeds, each value linked to its record; before retraining adds
    each pruned model's FLOPs reduction."""
    rows = []
    value_column = board.metric.pruned_column if column == BEFORE else board.metric.column
    cells = board.cells if column != BEFORE else board.cells.drop_duplicates(["criterion", "seed"])
    cells = cells if column == BEFORE else cells[cells["schedule"] == column]
    for criterion in board.criteria:
        mine = cells[cells["criterion"] == criterion].set_index("seed")
        numbers = []
        for seed in board.seeds:
            row = mine.loc[seed]
            link = href(row["path"], out)
            numbers.append(number(float(row[value_column]), link, row["identity.cell"], value_column))
            if column == BEFORE:
                removed = 100.0 * (1.0 - float(row["model.flops_after"]) / float(row["model.flops_before"]))
                numbers.append(number(removed, link, row["identity.cell"], "flops_removed_pct"))
        rows.append({"criterion": criterion, "numbers": numbers})
    header = [f"seed {s}" for s in board.seeds]
    if column == BEFORE:
        header = [h for s in board.seeds for h in (f"seed {s}", f"seed {s}: FLOPs removed (%)")]
    return {"column": column, "title": text.name(column), "anchor": anchor(column)[1:], "header": header, "rows": rows}


def _board_rows(board: Leaderboard) -> List[Dict[str, Any]]:
    standings = {c: board.standings(c) for c in board.columns}
    rows = []
    for criterion in board.criteria:
        entries = []
        for column in board.columns:
            s, own = standings[column][criterion], anchor(column)
            entries.append({"stat": text.mean_sd_text(s), "href": own,
                            "rank": number(s.rank, own, column="rank", digits=1),
                            "held": number(100 * s.held, own, column="rank_held_pct", digits=0)})
        rows.append({"criterion": criterion, "flops": number(board.flops[criterion], anchor(BEFORE) if BEFORE in
                                                             board.columns else "#seeds", column="flops_removed_pct"),
                     "entries": entries})
    return rows


def _spread_rows(board: Leaderboard) -> List[Dict[str, Any]]:
    rows = []
    for schedule in board.schedules:
        spread = board.table.spread(schedule)
        change = board.table.spread_change(REFERENCE, schedule) if REFERENCE in board.schedules else None
        own = anchor(schedule)
        rows.append({"id": f"spread-{schedule}", "schedule": text.name(schedule), "best": spread.best,
                     "worst": spread.worst, "spread": number(spread.value, own, column="spread"),
                     "interval": text.bounds(spread.bounds, ""),
                     "change": number(change.mean, own, column="spread_change", sign="+")
                     if change is not None and schedule != REFERENCE else number(None, own),
                     "change_interval": text.bounds(change.bounds) if change is not None and schedule != REFERENCE
                     else ""})
    return rows


def _baselines(board: Leaderboard, out: Path) -> List[Dict[str, Any]]:
    """The dense baseline of each seed, linked to the first record (by path) that holds it."""
    rows = []
    column = board.metric.baseline_column
    for seed in board.seeds:
        mine = board.cells[board.cells["seed"] == seed].sort_values("path", kind="stable")
        first = mine.iloc[0]
        rows.append({"seed": seed, "value": number(float(first[column]), href(first["path"], out), first["identity.cell"],
                                                   column), "identity": first.get("identity.baseline", "")})
    return rows


def render(board: Leaderboard, out: Path, sources: List[str]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    chart = rank_chart(board)
    standard = STANDARD if STANDARD in board.schedules else board.schedules[-1]
    context = {
        "board": board, "header": text.header(board, sources)[0], "columns": [text.name(c) for c in board.columns],
        "standard": text.name(standard), "resamples": f"{ranking.RESAMPLES:,}", "tolerance": f"{TOLERANCE:g}",
        "conclusions": text.conclusions(board), "rows": _board_rows(board),
        "chart": svg(chart) if chart is not None else "",
        "taus": [{"pair": f"{text.name(t.first)} vs {text.name(t.second)}", "tau": number(t.tau, "#seeds", column="tau_b",
                                                                                        sign="+"),
                  "interval": text.bounds(t.bounds), "valid": t.valid} for t in board.taus()],
        "flips": [{"winner": f.winner, "loser": f.loser,
                   "first": number(f.first.mean, anchor(REFERENCE), column="advantage", sign="+"),
                   "first_interval": text.bounds(f.first.bounds),
                   "second": number(f.second.mean, anchor(STANDARD), column="advantage", sign="+"),
                   "second_interval": text.bounds(f.second.bounds)} for f in board.flips()],
        "flips_possible": REFERENCE in board.schedules and STANDARD in board.schedules,
        "spreads": _spread_rows(board),
        "random": [{"id": f"random-{r['schedule']}", "schedule": text.name(r["schedule"]),
                    "rank": number(r["rank"], anchor(r["schedule"]), column="rank", digits=1), "of": r["of"],
                    "best": r["best"], "gap": number(r["gap"].mean, anchor(r["schedule"]), column="gap", sign="+"),
                    "interval": text.bounds(r["gap"].bounds)} for r in text.random_rows(board)],
        "per_seed": [_per_seed(board, c, out) for c in board.columns], "baselines": _baselines(board, out),
        "left_out": sorted(board.left_out.items()),
        "environments": environments(board.frame, out), "wall_times": wall_times(board.frame, out),
    }
    return env.get_template("leaderboard.html.j2").render(**context, markup=Markup)
