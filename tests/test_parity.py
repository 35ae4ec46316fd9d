"""Two arms of one grid side by side (benchmark.report.parity): accuracy within the seed spread,
orderings and verdicts, each able to say NO."""

from __future__ import annotations

from benchmark.report import parity
from tests.report_fixtures import accuracy, write_findings


def test_a_small_shift_is_within_the_spread_and_keeps_every_verdict(tmp_path):
    write_findings(tmp_path / "a")
    write_findings(tmp_path / "b", value=lambda *key: accuracy(*key) + 0.1)
    text = parity.report(tmp_path / "a", tmp_path / "b", ["fp32", "bf16"])
    # 10 arms (l1 x 4 + mwp x 4 + random x 2 schedules) at each of T = 3 and 6; each fixture arm's
    # seeds spread by about a point, so a uniform +0.10 is within both spreads everywhere
    assert "Summary: 20/20 arms within both seed spreads, 6/6 orderings the same, 16/16 verdicts the same." in text
    assert "| l1 0.5 | CLR | 3 | " in text and "| +0.10 | yes |" in text


def test_a_reversed_schedule_is_reported_as_a_changed_ordering_and_verdict(tmp_path):
    write_findings(tmp_path / "a")
    # arm b: after L1, CLR falls 10 points below FT in every seed
    write_findings(tmp_path / "b", value=lambda p, s, t, r: accuracy(p, s, t, r) - (10.0 if (p, s) == ("l1", "clr") else 0.0))
    text = parity.report(tmp_path / "a", tmp_path / "b", ["fp32", "bf16"])
    assert "| l1 0.5 | CLR | 3 | " in text and "| -10.00 | NO |" in text
    changed = [line for line in text.splitlines() if line.endswith("| NO |") and "CLR vs l1 0.5 + FT" in line]
    assert len(changed) == 2  # claim 1's L1 CLR rows at T = 3 and 6 no longer hold
    assert "18/20 arms within both seed spreads" in text
