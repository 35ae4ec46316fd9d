"""``make leaderboard``: do pruning criteria keep their rank under standardised retraining?

Reads the records of a leaderboard sweep (``+experiment=leaderboard_small``, plus the cells of any
submitted entry: ``python -m benchmark.launch.submit``) and writes into ``--out``:

- ``leaderboard.md`` / ``.csv``: criteria x schedules (and the accuracy right after pruning), mean
  ± sd over seeds, each criterion's rank (1 = best, ties averaged) and how often it holds that
  rank over a bootstrap of the seeds; the conclusions, random's rank and gap, what was left out;
- ``tau.md`` / ``.csv``: Kendall's tau-b between the rankings under every pair of schedules, and
  between the ranking before retraining and after each, with 95% bootstrap intervals;
- ``index.html``: all of it on one self-contained page with the rank chart
  (:mod:`benchmark.report.leaderboard_page`).

The data is :mod:`benchmark.report.board`, the statistics :mod:`benchmark.report.ranking`, the
sentences :mod:`benchmark.report.leaderboard_text`; docs/leaderboard.md describes them all.

Usage: ``python -m benchmark.report.leaderboard [RUN_FOLDERS...] [--out results/leaderboard]
[--metric top1|perplexity] [--target 0.5]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Sequence

from benchmark.report import leaderboard_page, leaderboard_text
from benchmark.report.board import Leaderboard, load
from benchmark.report.metric import METRICS


def write(board: Leaderboard, out: Path, sources: List[str]) -> List[Path]:
    """Every output of the leaderboard into ``out``; the same records give the same bytes."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in ("leaderboard.md", "leaderboard.csv", "tau.md", "tau.csv", "index.html")]
    paths[0].write_text(leaderboard_text.markdown(board, sources), encoding="utf-8")
    leaderboard_text.board_csv(board).to_csv(paths[1], index=False)
    paths[2].write_text(leaderboard_text.tau_markdown(board, sources), encoding="utf-8")
    leaderboard_text.tau_table(board).to_csv(paths[3], index=False)
    paths[4].write_text(leaderboard_page.render(board, out, sources), encoding="utf-8")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", default=["outputs/leaderboard_small"], help="folders searched for record.json")
    parser.add_argument("--out", default="results/leaderboard", help="where the tables and index.html are written")
    parser.add_argument("--metric", default="top1", choices=sorted(METRICS), help="the metric the criteria are ranked by")
    parser.add_argument("--target", type=float, default=None,
                        help="the common FLOPs reduction (0.5 = 50%%); default: the one the records' configs name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        board = load([Path(p) for p in args.runs], METRICS[args.metric], args.target)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in write(board, Path(args.out), list(args.runs)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
