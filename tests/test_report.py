"""The findings report (``make report``): claims, verdicts, missing cells and a page that opens offline."""

from __future__ import annotations

import re
import statistics
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List
from urllib.parse import unquote

import pytest

from benchmark.report import claims, findings
from benchmark.report.collect import collect
from benchmark.report.metric import PERPLEXITY, TOP1
from benchmark.report.tables import tidy
from tests.report_fixtures import BUDGETS, SEEDS, accuracy, write_findings

MISSING = ("l1", "clr", 6, 2)  # no record at all
DIVERGED = ("mwp", "lrw", 3, 1)  # a record that did not finish


class Page(HTMLParser):
    """The parts of the report the tests read: linked numbers, claim rows, absent cells, every URL."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.numbers: List[Dict[str, str]] = []  # a.num and a.stat: attributes plus text
        self.rows: Dict[str, Dict[str, str]] = {}  # tr.comparison by id: verdict, table, cell texts
        self.absent: List[List[str]] = []
        self.urls: List[str] = []
        self._link = self._row = self._absent = None
        self._table = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("href", "src", "action", "data") and v is not None]
        if tag == "table":
            self._table = attrs.get("id", self._table)
        if tag == "a" and attrs.get("class") in ("num", "stat"):
            self._link = {**attrs, "text": ""}
        if tag == "tr" and attrs.get("class") == "comparison":
            self._row = self.rows.setdefault(attrs["id"], {"verdict": attrs["data-verdict"], "table": self._table, "text": ""})
        if tag == "tr" and attrs.get("class") == "absent":
            self._absent = []

    def handle_data(self, data):
        if self._link is not None:
            self._link["text"] += data
        if self._row is not None:
            self._row["text"] += data + "|"
        if self._absent is not None and data.strip():
            self._absent.append(data.strip())

    def handle_endtag(self, tag):
        if tag == "a" and self._link is not None:
            self.numbers.append(self._link)
            self._link = None
        if tag == "tr":
            if self._absent is not None:
                self.absent.append(self._absent)
            self._row = self._absent = None


@pytest.fixture
def sweep(tmp_path):
    values = write_findings(tmp_path / "runs", skip=[MISSING], diverged=[DIVERGED])
    return tmp_path / "runs", values


def report(runs: Path, out: Path, metric=TOP1) -> str:
    return findings.write_report([runs], out, metric).read_text()


def rows_of(page: Page, table: str) -> List[Dict[str, str]]:
    return [row for row in page.rows.values() if row["table"] == table]


def test_every_claim_has_its_rows_and_the_schedules_claim_fails_where_the_data_says(sweep, tmp_path):
    runs, _ = sweep
    page = Page(report(runs, tmp_path / "report"))
    claim1, claim2, claim3 = (rows_of(page, f"table-{n}") for n in (1, 2, 3))
    assert len(claim1) == 2 * len(BUDGETS) * 3  # (l1, mwp) x T x (LRW, SLR, CLR) against FT
    assert len(claim2) == len(BUDGETS) and len(claim3) == 2
    # The fixture's SLR after MWP is below FT in every seed: those rows, and only those, fail.
    failing = [row for row in claim1 if row["verdict"] == "does not hold"]
    assert len(failing) == len(BUDGETS) and all("mwp" in r["text"] and "+ SLR" in r["text"] for r in failing)
    assert all(r["verdict"] == "holds" for r in claim1 if r not in failing)
    assert all("holds in 0/3 seeds" in r["text"] for r in failing)
    assert all(r["verdict"] == "holds" for r in claim2 + claim3)


def test_a_missing_cell_is_listed_and_its_comparison_counts_the_seeds_it_has(sweep, tmp_path):
    runs, _ = sweep
    page = Page(report(runs, tmp_path / "report"))
    absent = {(cells[2], cells[3], cells[4], cells[5]): cells[6] for cells in page.absent}
    assert absent == {("l1 0.5", "clr", "6", "run 2"): "missing", ("mwp s0.8", "lrw", "3", "run 1"): "diverged"}
    (row,) = [r for r in rows_of(page, "table-1") if "l1 0.5 + CLR" in r["text"] and "|6|" in r["text"]]
    assert "holds in 2/2 seeds" in row["text"] and "run 2: CLR missing" in row["text"]


def test_a_whole_pruner_absent_is_missing_rather_than_dropped(tmp_path):
    write_findings(tmp_path / "runs", skip=[k for k in _grid_keys() if k[0] == "mwp"])
    frame = tidy(collect([tmp_path / "runs"]))
    evaluated, _, absent = claims.evaluate(frame, TOP1)
    assert len(absent[absent["pruner"] == "mwp"]) == 4 * len(BUDGETS) * len(SEEDS)
    mwp_rows = [c for c in evaluated[0].comparisons if c.setting["pruner"] == "mwp"]
    assert len(mwp_rows) == 3 * len(BUDGETS) and {c.verdict for c in mwp_rows} == {"missing"}


def _grid_keys():
    from tests.report_fixtures import grid

    return list(grid())


def test_numbers_in_the_page_are_the_collected_frame_s(sweep, tmp_path):
    runs, values = sweep
    out = tmp_path / "report"
    page = Page(report(runs, out))
    frame = tidy(collect([runs])).set_index("identity.cell")
    linked = [n for n in page.numbers if n.get("data-cell") and n.get("data-column", "").startswith("metrics.")]
    assert len(linked) > 100
    for n in linked:
        assert n["text"] == f"{float(frame.loc[n['data-cell'], n['data-column']]):.2f}"
        # ... and the link is the record that number is in.
        assert (out / unquote(n["href"])).resolve() == Path(frame.loc[n["data-cell"], "path"]).resolve()
    timed = [n for n in page.numbers if n.get("data-column", "").startswith("seconds.")]
    assert len(timed) == 4 * len(frame)  # every cell's wall time per stage, read from its record
    for n in timed:
        assert n["text"] == f"{float(frame.loc[n['data-cell'], n['data-column']]):.1f}"
    environment = [n["text"] for n in page.numbers if not n.get("data-cell") and n["href"].endswith("record.json")]
    assert environment == ["0123abc", "False", "2.14.1", "cpu", "2", "fp32"]  # tests/report_fixtures.ENVIRONMENT
    # A row's mean ± sd is the fixture's own, computed here by hand.
    row = [r for r in rows_of(page, "table-1") if "l1 0.5 + CLR" in r["text"] and "|3|" in r["text"]][0]
    clr = [values[("l1", "clr", 3, s)] for s in SEEDS]
    assert f"{statistics.mean(clr):.2f} ± {statistics.stdev(clr):.2f} (n=3)" in row["text"]
    gain = statistics.mean(values[("l1", "clr", 3, s)] - values[("l1", "ft", 3, s)] for s in SEEDS)
    assert f"|{gain:+.2f}|" in row["text"]


def test_the_page_opens_offline_and_is_the_same_bytes_every_time(sweep, tmp_path):
    runs, _ = sweep
    first = report(runs, tmp_path / "report")
    second = report(runs, tmp_path / "report")
    assert first == second
    assert not re.search(r"https?:|//|<script|<link|@import|url\((?!#)", first), "an external or fetched resource"
    page = Page(first)
    assert page.urls and all(u.startswith("#") or u.endswith("record.json") for u in page.urls)
    assert all((tmp_path / "report" / unquote(u)).is_file() for u in page.urls if not u.startswith("#"))
    assert first.count("<svg") == 2  # accuracy against budget, accuracy against sparsity


def test_a_lower_is_better_metric_flips_every_verdict(tmp_path):
    """The same numbers read as perplexity: FT's lower values now win, MWP's SLR now beats FT."""
    write_findings(tmp_path / "runs", metric="test_ppl")
    frame = tidy(collect([tmp_path / "runs"]))
    higher, _, _ = claims.evaluate(frame, TOP1)
    lower, _, _ = claims.evaluate(frame, PERPLEXITY)
    for up, down in zip(higher[0].comparisons, lower[0].comparisons):
        assert up.arm == down.arm and down.pairs["advantage"].tolist() == [-a for a in up.pairs["advantage"]]
        assert {up.verdict, down.verdict} == {"holds", "does not hold"}
    slr = [c for c in lower[0].comparisons if c.setting["pruner"] == "mwp s0.8" and c.arm.endswith("SLR")]
    assert {c.verdict for c in slr} == {"holds"}
    page = report(tmp_path / "runs", tmp_path / "report", PERPLEXITY)
    assert "lower is better" in page and 'data-column="metrics.test_ppl"' in page


def test_random_clr_below_l1_ft_fails_the_random_claim(tmp_path):
    def worse(pruner, schedule, epochs, seed):
        return accuracy(pruner, schedule, epochs, seed) - (5.0 + seed if pruner == "random" else 0.0)

    write_findings(tmp_path / "runs", value=worse)
    evaluated, _, _ = claims.evaluate(tidy(collect([tmp_path / "runs"])), TOP1)
    assert {c.verdict for c in evaluated[1].comparisons} == {"does not hold"}


def test_the_budget_statement_is_what_the_papers_tables_show():
    """ResNet-56-B: CLR - FT = -0.05 - (-0.53) = +0.48 at T=40 and +0.39 - (-0.46) = +0.85 at T=152
    (paper.md, by hand): the gap grows with the budget."""
    statement, notes = claims.budget_statement()
    (resnet56,) = [n for n in notes if n.startswith("resnet56-B")]
    assert "+0.48 at T=40" in resnet56 and "+0.85 at T=152" in resnet56
    assert "larger at the largest budget" in statement and "not largest at small budgets" in statement


def test_no_records_is_one_line(tmp_path, capsys):
    assert findings.main([str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no records found") and "\n" not in err
