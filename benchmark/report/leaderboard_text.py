"""The leaderboard as text: its conclusions (a sentence and a verdict each), markdown and CSV.

The conclusions are the questions of issue 27, answered from :class:`benchmark.report.board.Leaderboard`:

1. does the ranking under FT carry over to each other schedule (Kendall's tau-b above 0)?
2. does the ranking right after pruning predict the ranking after each schedule?
3. do FT and CLR order some pair of criteria oppositely, significantly under both?
4. does each schedule compress the differences between criteria (best minus worst) against FT?
5. is random pruning competitive with the best criterion under each schedule?

A verdict is *holds* or *does not hold* only when the 95% bootstrap interval decides it, else
*undecided*; *missing* when the board lacks what the question needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import pandas as pd

from benchmark.report import ranking
from benchmark.report.board import BEFORE, REFERENCE, STANDARD, TOLERANCE, Leaderboard


@dataclass(frozen=True)
class Conclusion:
    claim: str  # the statement tested
    evidence: str  # the numbers that decide it, as a sentence
    verdict: str  # holds | does not hold | undecided | missing
    anchor: str  # the page section holding its inputs


def name(column: str) -> str:
    """A column as the text names it: a schedule in capitals, or "before retraining"."""
    return column if column == BEFORE else column.upper()


def bounds(interval: ranking.Interval, sign: str = "+") -> str:
    return "no interval" if interval is None else f"[{interval[0]:{sign}.2f}, {interval[1]:{sign}.2f}]"


def _by_interval(interval: ranking.Interval, above: str, below: str) -> str:
    side = ranking.excludes_zero(interval)
    return above if side > 0 else below if side < 0 else "undecided"


def _tau_conclusions(board: Leaderboard) -> List[Conclusion]:
    found = []
    for tau in board.taus():
        if tau.first == BEFORE:
            claim = f"The ranking right after pruning predicts the ranking after {name(tau.second)} (tau > 0)."
        elif tau.first == REFERENCE:
            claim = f"The ranking under FT carries over to {name(tau.second)} (tau > 0)."
        else:
            continue
        evidence = (f"Kendall's tau-b({name(tau.first)}, {name(tau.second)}) = {tau.tau:+.2f}, 95% interval "
                    f"{bounds(tau.bounds)} ({tau.valid} seed resamples with both rankings defined).")
        found.append(Conclusion(claim, evidence, _by_interval(tau.bounds, "holds", "does not hold"), "#tau"))
    return found


def _flip_conclusion(board: Leaderboard) -> Conclusion:
    claim = "FT and CLR order some pair of criteria oppositely, each order significant (paired interval excludes 0)."
    if REFERENCE not in board.schedules or STANDARD not in board.schedules:
        return Conclusion(claim, "The board lacks FT or CLR.", "missing", "#flips")
    flips = board.flips()
    if not flips:
        pairs = len(board.criteria) * (len(board.criteria) - 1) // 2
        return Conclusion(claim, f"None of the {pairs} pairs flips significantly.", "does not hold", "#flips")
    listed = "; ".join(f"{f.winner} - {f.loser}: FT {f.first.mean:+.2f} {bounds(f.first.bounds)}, "
                       f"CLR {f.second.mean:+.2f} {bounds(f.second.bounds)}" for f in flips)
    return Conclusion(claim, f"{len(flips)} pair(s) flip: {listed}.", "holds", "#flips")


def _spread_conclusions(board: Leaderboard) -> List[Conclusion]:
    if REFERENCE not in board.schedules:
        return []
    found, ft = [], board.table.spread(REFERENCE)
    for schedule in [s for s in board.schedules if s != REFERENCE]:
        spread, change = board.table.spread(schedule), board.table.spread_change(REFERENCE, schedule)
        claim = f"{name(schedule)} compresses the differences between criteria: best minus worst is smaller than under FT."
        evidence = (f"Best minus worst: {ft.value:.2f} {bounds(ft.bounds, '')} under FT ({ft.best} - {ft.worst}), "
                    f"{spread.value:.2f} {bounds(spread.bounds, '')} under {name(schedule)} ({spread.best} - "
                    f"{spread.worst}); change {change.mean:+.2f} {bounds(change.bounds)}.")
        found.append(Conclusion(claim, evidence, _by_interval(change.bounds, "does not hold", "holds"),
                                f"#spread-{schedule}"))
    return found


def random_rows(board: Leaderboard) -> List[Dict[str, object]]:
    """Random's rank and its seed-paired gap to the best criterion under each schedule."""
    random = board.random_criterion()
    if random is None:
        return []
    rows = []
    for schedule in board.schedules:
        best, gap = board.table.gap_to_best(schedule, random)
        rank = board.standings(schedule)[random].rank
        rows.append({"schedule": schedule, "rank": rank, "of": len(board.criteria), "best": best, "gap": gap})
    return rows


def _random_conclusions(board: Leaderboard) -> List[Conclusion]:
    found = []
    for row in random_rows(board):
        schedule, gap = row["schedule"], row["gap"]
        claim = f"Random pruning is competitive with the best criterion under {name(schedule)} (not significantly behind it)."
        if row["best"] == board.random_criterion():
            evidence, verdict = f"Under {name(schedule)} random ranks first of {row['of']}.", "holds"
        else:
            evidence = (f"Under {name(schedule)} random ranks {row['rank']:g} of {row['of']}, {gap.mean:.2f} points "
                        f"behind the best ({row['best']}), 95% interval {bounds(gap.bounds)}.")
            verdict = "does not hold" if gap.sign > 0 else "holds" if gap.bounds is not None else "undecided"
        found.append(Conclusion(claim, evidence, verdict, f"#random-{schedule}"))
    return found


def conclusions(board: Leaderboard) -> List[Conclusion]:
    return [*_tau_conclusions(board), _flip_conclusion(board), *_spread_conclusions(board), *_random_conclusions(board)]


# --- tables --------------------------------------------------------------------------------------

def mean_sd_text(standing: ranking.Standing) -> str:
    """``mean ± sd``; with one seed no spread, since none was measured."""
    return f"{standing.mean:.2f}" + ("" if pd.isna(standing.sd) else f" ± {standing.sd:.2f}")


def standing_text(standing: ranking.Standing) -> str:
    return f"{mean_sd_text(standing)} · #{standing.rank:g} ({100 * standing.held:.0f}%)"


def board_table(board: Leaderboard) -> pd.DataFrame:
    """The leaderboard as printed: one row per criterion, best under CLR first."""
    standings = {column: board.standings(column) for column in board.columns}
    order = STANDARD if STANDARD in board.schedules else board.schedules[-1]
    rows = []
    for criterion in board.criteria:
        row = {f"rank ({name(order)})": f"{standings[order][criterion].rank:g}", "criterion": criterion,
               "FLOPs removed (%)": f"{board.flops[criterion]:.2f}"}
        row |= {name(column): standing_text(standings[column][criterion]) for column in board.columns}
        rows.append(row)
    return pd.DataFrame(rows)


def board_csv(board: Leaderboard) -> pd.DataFrame:
    rows = []
    for column in board.columns:
        for criterion, standing in board.standings(column).items():
            rows.append({"criterion": criterion, "column": column, "n": len(board.seeds),
                         "mean": round(standing.mean, 4), "sd": round(standing.sd, 4), "rank": standing.rank,
                         "rank_held": round(standing.held, 4), "flops_removed_pct": round(board.flops[criterion], 4)})
    return pd.DataFrame(rows)


def tau_table(board: Leaderboard) -> pd.DataFrame:
    return pd.DataFrame([{"first": name(t.first), "second": name(t.second), "tau_b": round(t.tau, 4),
                          "low": None if t.bounds is None else round(t.bounds[0], 4),
                          "high": None if t.bounds is None else round(t.bounds[1], 4), "valid_resamples": t.valid}
                         for t in board.taus()])


def _tau_markdown(board: Leaderboard) -> List[str]:
    rows = [{"rankings": f"{name(t.first)} vs {name(t.second)}", "tau-b": f"{t.tau:+.2f}",
             "95% interval": bounds(t.bounds), "resamples with tau defined": t.valid} for t in board.taus()]
    return [pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True), "",
            f"Kendall's tau-b between the criteria's rankings (ties corrected), with the 95% percentile interval over "
            f"{ranking.RESAMPLES:,} bootstrap resamples of the seeds (paired: one resample draws the same seeds for every "
            "criterion and schedule)."]


def header(board: Leaderboard, sources: List[str]) -> List[str]:
    s, metric = board.setting, board.metric
    target = "none named" if board.target is None else f"{board.target:.2f}% of the FLOPs removed ± {TOLERANCE:g} point"
    seeds = ", ".join(board.seeds) + (" (linked)" if board.linked else "")
    return [f"{s['dataset']} {s['model']}, T = {s['T']} epochs, {len(board.criteria)} criteria, seeds {seeds}, "
            f"metric {metric.name} ({metric.better} is better); common target: {target}. Records: {', '.join(sources)}."]


def markdown(board: Leaderboard, sources: List[str]) -> str:
    lines = ["# Leaderboard: pruning criteria under standardised retraining", "", *header(board, sources), "",
             board_table(board).to_markdown(index=False, disable_numparse=True), "",
             "Each entry: mean ± sd over seeds · #rank under that column (1 = best, ties averaged) (the share of "
             f"{ranking.RESAMPLES:,} seed resamples in which the criterion holds exactly that rank).", "",
             "## Kendall's tau between rankings", "", *_tau_markdown(board), "", "## Conclusions", ""]
    lines += [f"- **{c.verdict}**: {c.claim} {c.evidence}" for c in conclusions(board)]
    lines += ["", "## Random pruning", ""]
    rows = [{"schedule": name(r["schedule"]), "rank": f"{r['rank']:g} of {r['of']}", "best": r["best"],
             "gap to best": f"{r['gap'].mean:+.2f}", "95% interval": bounds(r["gap"].bounds)} for r in random_rows(board)]
    lines += [pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True) if rows else "No random criterion."]
    if board.left_out:
        lines += ["", "## Left out of the ranking", ""] + [f"- {c}: {why}" for c, why in sorted(board.left_out.items())]
    return "\n".join(lines) + "\n"


def tau_markdown(board: Leaderboard, sources: List[str]) -> str:
    return "\n".join(["# Kendall's tau between the criteria's rankings", "", *header(board, sources), "",
                      *_tau_markdown(board)]) + "\n"


def entry_summary(board: Leaderboard, entry: Optional[str]) -> str:
    """What a submission prints: the entry's rank under each column, then the tau table."""
    lines = []
    if entry is not None and entry in board.criteria:
        for column in board.columns:
            standing = board.standings(column)[entry]
            lines.append(f"{entry}: {name(column)}: rank {standing.rank:g} of {len(board.criteria)} "
                         f"({standing.mean:.2f}, held in {100 * standing.held:.0f}% of seed resamples)")
    elif entry is not None:
        lines.append(f"{entry}: not ranked: {board.left_out.get(entry, 'no finished cell found')}")
    return "\n".join(lines + ["", *_tau_markdown(board)])
