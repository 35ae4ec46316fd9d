"""``make report``: the paper's three claims tested on a sweep's records, as one HTML page.

Collects the records like ``make tables`` (:func:`benchmark.report.collect.collect`, then
:func:`benchmark.report.tables.tidy`), evaluates the claims (:mod:`benchmark.report.claims`)
and writes ``index.html`` (:mod:`benchmark.report.page`) into ``--out``. Nothing but the records
goes in, so the same records give the same bytes.

Usage: ``python -m benchmark.report.findings [RUN_FOLDERS...] [--out results/report] [--metric top1|perplexity]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from benchmark.report import claims, page
from benchmark.report.collect import collect
from benchmark.report.metric import METRICS, Metric
from benchmark.report.tables import tidy


def write_report(roots: Sequence[Path], out: Path, metric: Metric) -> Path:
    """Collect the records under ``roots`` and write ``out/index.html``; ValueError (one line) without records."""
    frame = collect(roots)
    sources = ", ".join(map(str, roots))
    if frame.empty:
        skipped = frame.attrs.get("skipped", [])
        raise ValueError(f"{len(skipped)} record(s) under {sources}, none readable as a cell" if skipped
                         else f"no records found under {sources}: run the sweep first (make findings)")
    frame = tidy(frame)
    evaluated, _, absent = claims.evaluate(frame, metric)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(page.render(evaluated, frame, absent, metric, out, [str(r) for r in roots]), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", default=["outputs/findings_small"], help="folders searched for record.json")
    parser.add_argument("--out", default="results/report", help="where index.html is written")
    parser.add_argument("--metric", default="top1", choices=sorted(METRICS), help="the metric the claims compare")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        path = write_report([Path(p) for p in args.runs], Path(args.out), METRICS[args.metric])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
