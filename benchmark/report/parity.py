"""Two arms of the same grid side by side (fp32 against bf16, say): does the second change any
finding of the first? ``python -m benchmark.report.parity A_FOLDER B_FOLDER --names fp32,bf16
--out results/parity-cpu/bf16``.

Only the cells both arms hold are compared (the same pruner, schedule, T and seed). Written:
``parity.md`` with, per pruner, schedule and T, each arm's mean ± sd (n) of test top-1, the mean
difference B - A, and whether it lies within the seed spread of each arm (|B - A| <= that arm's
sd); each pruner and budget's ordering of the schedules in both arms; and every claim row of the
findings report (benchmark.report.claims) with both arms' verdicts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Sequence

import pandas as pd

from benchmark.report import claims
from benchmark.report.collect import collect
from benchmark.report.metric import TOP1
from benchmark.report.paired import mean_sd
from benchmark.report.tables import ordering, tidy

CELL = ["pruner", "schedule", "T", "seeds.retrain"]


def finished(root: Path) -> pd.DataFrame:
    frame = tidy(collect([root]))
    return frame[(frame["status"] == "finished") & frame[TOP1.column].notna()]


def common(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both arms restricted to the cells they share."""
    keys = a[CELL].merge(b[CELL]).drop_duplicates()
    return a.merge(keys), b.merge(keys)


def accuracy_rows(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (pruner, schedule, t), part_a in a.groupby(["pruner", "schedule", "T"], sort=True):
        part_b = b[(b["pruner"] == pruner) & (b["schedule"] == schedule) & (b["T"] == t)]
        va, vb = part_a[TOP1.column].astype(float), part_b[TOP1.column].astype(float)
        diff = vb.mean() - va.mean()
        rows.append({"pruner": pruner, "schedule": schedule.upper(), "T": int(t), "a": mean_sd(va), "b": mean_sd(vb),
                     "diff": diff, "within": abs(diff) <= va.std(ddof=1) and abs(diff) <= vb.std(ddof=1)})
    return pd.DataFrame(rows)


def orderings(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (pruner, t), part_a in a.groupby(["pruner", "T"], sort=True):
        part_b = b[(b["pruner"] == pruner) & (b["T"] == t)]
        oa, ob = ordering(part_a), ordering(part_b)
        rows.append({"pruner": pruner, "T": int(t), "a": oa, "b": ob,
                     "same": oa.split(" (")[0] == ob.split(" (")[0]})
    return pd.DataFrame(rows)


def verdicts(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    rows = []
    evaluated = [claims.evaluate(frame, TOP1)[0] for frame in (a, b)]
    for claim_a, claim_b in zip(*evaluated):
        for row_a, row_b in zip(claim_a.comparisons, claim_b.comparisons):
            setting = ", ".join(f"{k}={v}" for k, v in row_a.setting.items() if k in ("pruner", "T"))
            rows.append({"claim": claim_a.number, "comparison": f"{row_a.arm} vs {row_a.reference} ({setting})",
                         "a": row_a.verdict_text(), "b": row_b.verdict_text(), "same": row_a.verdict == row_b.verdict})
    return pd.DataFrame(rows)


def report(a_root: Path, b_root: Path, names: Sequence[str]) -> str:
    a, b = common(finished(a_root), finished(b_root))
    if a.empty:
        raise ValueError(f"no finished cell is in both {a_root} and {b_root}")
    na, nb = names
    acc, order, verdict = accuracy_rows(a, b), orderings(a, b), verdicts(a, b)
    lines: List[str] = [f"# Parity: {nb} against {na}", "",
                        f"{len(a)} cells in both arms ({a_root} and {b_root}); test top-1 %, mean ± sd over seeds.", "",
                        f"| pruner | schedule | T | {na} | {nb} | {nb} - {na} | within both seed spreads |",
                        "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.pruner} | {r.schedule} | {r.T} | {r.a} | {r.b} | {r.diff:+.2f} | {'yes' if r.within else 'NO'} |"
              for r in acc.itertuples()]
    lines += ["", "Orderings of the schedules (in how many seeds exactly that order holds):", "",
              f"| pruner | T | {na} | {nb} | same order |", "|---|---|---|---|---|"]
    lines += [f"| {r.pruner} | {r.T} | {r.a} | {r.b} | {'yes' if r.same else 'NO'} |" for r in order.itertuples()]
    lines += ["", "The findings report's claims (benchmark.report.claims) in each arm:", "",
              f"| claim | comparison | {na} | {nb} | same verdict |", "|---|---|---|---|---|"]
    lines += [f"| {r.claim} | {r.comparison} | {r.a} | {r.b} | {'yes' if r.same else 'NO'} |" for r in verdict.itertuples()]
    lines += ["", f"Summary: {int(acc['within'].sum())}/{len(acc)} arms within both seed spreads, "
              f"{int(order['same'].sum())}/{len(order)} orderings the same, "
              f"{int(verdict['same'].sum())}/{len(verdict)} verdicts the same."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="the reference arm's sweep folder")
    parser.add_argument("b", help="the compared arm's sweep folder")
    parser.add_argument("--names", default="fp32,bf16", help="the two arms' names, comma-separated")
    parser.add_argument("--out", default="results/parity-cpu/bf16")
    args = parser.parse_args(argv)
    try:
        text = report(Path(args.a), Path(args.b), args.names.split(","))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "parity.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
