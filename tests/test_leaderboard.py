"""The leaderboard (issue 27): ranks and tau against hand-worked tables, flips, the board from records,
its page, and a submitted entry (refused when off target; when accepted, only its own cells train)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict
from urllib.parse import unquote

import numpy as np
import pytest

from benchmark.launch import submit
from benchmark.records import CellRecord, write_record
from benchmark.report import leaderboard, ranking
from benchmark.report.board import BEFORE, load
from benchmark.report.leaderboard_text import conclusions
from tests.conftest import REPO

# --- ranks and tau by hand ---------------------------------------------------------------------------


def test_average_ranks_share_ties_and_follow_the_metric_direction():
    # 4 > 3 = 3 > 1: ranks 1, then 2 and 3 shared (2.5 each), then 4.
    assert ranking.average_ranks(np.array([4.0, 3.0, 3.0, 1.0])).tolist() == [1.0, 2.5, 2.5, 4.0]
    # Lower is better (perplexity): 1 is the best.
    assert ranking.average_ranks(np.array([4.0, 3.0, 3.0, 1.0]), higher_is_better=False).tolist() == [4.0, 2.5, 2.5, 1.0]
    # Three-way tie: ranks 1, 2, 3 averaged to 2; 0.1 + 0.2 and 0.3 differ only by rounding, so they tie.
    assert ranking.average_ranks(np.array([2.0, 2.0, 2.0])).tolist() == [2.0, 2.0, 2.0]
    assert ranking.average_ranks(np.array([0.1 + 0.2, 0.3])).tolist() == [1.5, 1.5]


def test_kendall_tau_b_against_hand_counts_with_ties():
    # x = 4, 3, 3, 1 and y = 1, 3, 2, 2 over criteria A, B, C, D. The 6 pairs:
    # AB: x +, y - (discordant); AC: x +, y - (d); AD: x +, y - (d); BC: tied in x; BD: x +, y + (concordant);
    # CD: tied in y. C - D = 1 - 3 = -2; untied pairs: 6 - 1 = 5 in x, 6 - 1 = 5 in y: tau_b = -2 / sqrt(5 x 5) = -0.4.
    x, y = [4.0, 3.0, 3.0, 1.0], [1.0, 3.0, 2.0, 2.0]
    assert ranking.kendall_tau(x, y) == pytest.approx(-0.4)
    assert float(ranking.tau_b(np.array(x), np.array(y))) == pytest.approx(-0.4)
    # The same ranking with one tie on each side: 5 concordant of 5 untied pairs, tau_b = 5 / sqrt(5 x 5) = 1
    # (tau-a, which ignores ties, would give 5/6).
    assert ranking.kendall_tau([3, 2, 2, 1], [3, 2, 2, 1]) == pytest.approx(1.0)
    # A ranking that ties everything has no tau.
    assert np.isnan(ranking.kendall_tau([1, 1, 1], [1, 2, 3]))


def _tau_b_by_pairs(x, y) -> float:
    """Kendall's textbook tau-b: (concordant - discordant) / sqrt((n0 - ties in x) (n0 - ties in y))."""
    concordant = discordant = ties_x = ties_y = pairs = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            pairs += 1
            dx, dy = x[i] - x[j], y[i] - y[j]
            ties_x, ties_y = ties_x + (dx == 0), ties_y + (dy == 0)
            concordant, discordant = concordant + (dx * dy > 0), discordant + (dx * dy < 0)
    return (concordant - discordant) / np.sqrt((pairs - ties_x) * (pairs - ties_y))


def test_vectorised_tau_b_and_the_point_estimate_equal_the_pair_count_on_tied_data():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 4, size=(50, 7)).astype(float), rng.integers(0, 4, size=(50, 7)).astype(float)
    ours = ranking.tau_b(x, y)
    for row in range(50):
        if len(set(x[row])) > 1 and len(set(y[row])) > 1:
            expected = _tau_b_by_pairs(x[row].tolist(), y[row].tolist())
            assert ours[row] == pytest.approx(expected)
            assert ranking.kendall_tau(x[row], y[row]) == pytest.approx(expected)  # scipy's, where installed


def test_standings_rank_and_how_often_each_rank_holds():
    # FT: A - B = 1 and B - C = 9 in every seed, so every resample ranks them 1, 2, 3: held 100%, sd 1 each.
    # CLR: A = 80 in every seed, B = 79, 81, 80 (mean 80): A and B tie at 1.5. A resample keeps the tie exactly when
    # it draws seeds 0 and 1 equally often: all three draws of seed 2 (1 of 27) or one of each (6 of 27): 7/27.
    table = ranking.Table(["A", "B", "C"], {"ft": [[70, 71, 72], [69, 70, 71], [60, 61, 62]],
                                            "clr": [[80, 80, 80], [79, 81, 80], [75, 75, 75]]})
    ft = table.standings("ft")
    assert [s.rank for s in ft] == [1.0, 2.0, 3.0] and [s.held for s in ft] == [1.0, 1.0, 1.0]
    assert [s.mean for s in ft] == [71.0, 70.0, 61.0] and [s.sd for s in ft] == [1.0, 1.0, 1.0]
    clr = table.standings("clr")
    assert [s.rank for s in clr] == [1.5, 1.5, 3.0] and clr[2].held == 1.0
    assert clr[0].held == pytest.approx(7 / 27, abs=0.02) and clr[1].held == pytest.approx(7 / 27, abs=0.02)
    # tau(FT, CLR): means 71, 70, 61 against 80, 80, 75: AB tied under CLR, AC and BC concordant:
    # 2 / sqrt(3 x 2) = 0.8165.
    assert table.tau("ft", "clr").tau == pytest.approx(2 / np.sqrt(6))


def test_a_flip_is_listed_only_when_significant_on_both_sides():
    # FT: A - B = +1 and A - C = +1 in every seed (significant); B - C = 0.
    # CLR: A - B = -1 in every seed (significant the other way): listed.
    #      A - C = -2, -2, +1 (mean -1, order flipped): a resample of three +1 draws has mean +1 with
    #      probability 1/27 = 3.7% > 2.5%, so the upper bound is +1 and the interval holds 0: not listed.
    table = ranking.Table(["A", "B", "C"], {"ft": [[71, 72, 73], [70, 71, 72], [70, 71, 72]],
                                            "clr": [[80, 80, 80], [81, 81, 81], [82, 82, 79]]})
    flips = table.flips("ft", "clr")
    assert [(f.winner, f.loser) for f in flips] == [("A", "B")]
    assert flips[0].first.mean == pytest.approx(1.0) and flips[0].first.bounds == (1.0, 1.0)
    assert flips[0].second.mean == pytest.approx(-1.0) and flips[0].second.bounds == (-1.0, -1.0)
    a_minus_c = table.difference("clr", 0, 2)
    assert a_minus_c.mean == pytest.approx(-1.0) and a_minus_c.bounds[1] == pytest.approx(1.0) and a_minus_c.sign == 0


def test_spread_and_random_gap_by_hand():
    # FT: L1 - random = 2 in every seed: spread 2, interval [2, 2]; random 2nd of 2, 2 points behind, significant.
    # CLR: means 81 and 81 (differences 0, -1, +1): spread 0; random ties the best and is not behind it.
    table = ranking.Table(["L1 (PFEC)", "random"], {"ft": [[70, 71, 72], [68, 69, 70]],
                                                    "clr": [[80, 81, 82], [80, 82, 81]]})
    ft = table.spread("ft")
    assert (ft.best, ft.worst, ft.value, ft.bounds) == ("L1 (PFEC)", "random", 2.0, (2.0, 2.0))
    assert table.spread("clr").value == 0.0
    change = table.spread_change("ft", "clr")
    assert change.mean == -2.0 and change.bounds[1] < 0  # CLR compresses: every resample's spread is below 2
    best, gap = table.gap_to_best("ft", "random")
    assert best == "L1 (PFEC)" and gap.mean == 2.0 and gap.sign == 1
    best, gap = table.gap_to_best("clr", "random")
    assert best == "L1 (PFEC)" and gap.mean == 0.0 and gap.sign == 0


# --- the board from records ------------------------------------------------------------------------

CRITERIA: Dict[str, Dict] = {
    "L1 (PFEC)": {"name": "l1"},
    "random": {"name": "random"},
    "FPGM": {"name": "torch_pruning", "importance": {"_target_": "torch_pruning.importance.FPGMImportance"},
             "global_pruning": False},
    "group L1": {"name": "torch_pruning", "importance": {"_target_": "torch_pruning.importance.GroupMagnitudeImportance",
                                                         "p": 1}, "global_pruning": False},
    "slim ratio=0.3": {"name": "custom", "function": "examples.my_pruner:slim", "kwargs": {"ratio": 0.3}},
    "BN scale": {"name": "torch_pruning", "importance": {"_target_": "torch_pruning.importance.BNScaleImportance"},
                 "global_pruning": False},
}
# Final top-1 by criterion: FT orders L1 > FPGM > group L1 > random, CLR reverses L1 and FPGM.
FT = {"L1 (PFEC)": 72.0, "random": 66.0, "FPGM": 71.0, "group L1": 69.0, "slim ratio=0.3": 75.0, "BN scale": 70.0}
CLR = {"L1 (PFEC)": 78.0, "random": 77.5, "FPGM": 79.0, "group L1": 77.0, "slim ratio=0.3": 80.0, "BN scale": 76.0}


def write_board(root: Path) -> None:
    """3 seeds x FT, CLR of six criteria: slim misses the FLOPs target, BN scale lacks CLR for seed 2."""
    for label, pruner in CRITERIA.items():
        for schedule, table in (("ft", FT), ("clr", CLR)):
            for seed in (0, 1, 2):
                if label == "BN scale" and schedule == "clr" and seed == 2:
                    continue
                cfg_pruner = {"variant": None, "ratio": 0.5, "target_reduction": None if label.startswith("slim") else 0.5,
                              "target_metric": "flops", **pruner}
                name = f"{pruner['name']}-{label.replace(' ', '_')}-{schedule}-s{seed}"
                record = CellRecord(
                    identity={"baseline": f"base-{seed}", "pruned": f"prune-{label}-{seed}", "cell": f"cell-{name}"},
                    name=name, comparison="cifar10-resnet20",
                    config={"dataset": {"name": "cifar10"}, "model": {"name": "resnet20", "width": 1.0},
                            "recipe": {"epochs": 40}, "pruner": cfg_pruner, "schedule": {"name": schedule},
                            "budget": {"epochs": None, "fraction": 0.25},
                            "seed": {"baseline": seed, "prune": seed, "retrain": seed}},
                    seeds={"baseline": seed, "prune": seed, "retrain": seed}, budget_epochs=10, steps_per_epoch=79,
                    environment={"git": {"commit": "abc", "dirty": False}, "device": {"type": "cpu", "threads": 2}},
                    status="finished",
                    metrics={"test_top1": table[label] + 0.5 * seed, "baseline_test_top1": 90.0 + seed,
                             "pruned_test_top1": 30.0 + len(label) + seed},
                    model={"params_before": 270000, "params_after": 135000, "flops_before": 40_000_000,
                           "flops_after": 28_000_000 if label.startswith("slim") else 20_220_000},
                    seconds={"baseline": 100.0, "prune": 1.0, "retrain": 50.0, "cell": 151.0})
                write_record(record, root / name)


def test_the_board_ranks_what_meets_the_target_and_lists_the_rest(tmp_path):
    write_board(tmp_path / "records")
    board = load([tmp_path / "records"])
    assert board.target == 50.0 and board.schedules == ["ft", "clr"] and board.seeds == ["0", "1", "2"]
    # Sorted by rank under CLR: FPGM 79, L1 78, random 77.5, group L1 77.
    assert board.criteria == ["FPGM", "L1 (PFEC)", "random", "group L1"]
    assert [board.standings("ft")[c].rank for c in board.criteria] == [2.0, 1.0, 4.0, 3.0]
    assert "FLOPs" in board.left_out["slim ratio=0.3"] and "clr seed 2" in board.left_out["BN scale"]
    # Before retraining: 30 + len(label) + seed, so longer names rank higher: L1 (PFEC) 9, group L1 8, random 6, FPGM 4.
    assert [board.standings(BEFORE)[c].rank for c in board.criteria] == [4.0, 1.0, 3.0, 2.0]
    # FT ranks 2, 1, 4, 3 against CLR's 1, 2, 3, 4: pairs (FPGM, L1) and (random, group L1) discordant, 4 concordant:
    # tau = (4 - 2) / 6.
    taus = {(t.first, t.second): t for t in board.taus()}
    assert taus[("ft", "clr")].tau == pytest.approx(1 / 3)
    # Significant flips (the same difference in every seed): L1 - FPGM = +1 under FT, -1 under CLR;
    # group L1 - random = +3 under FT, -0.5 under CLR.
    assert [(f.winner, f.loser) for f in board.flips()] == [("L1 (PFEC)", "FPGM"), ("group L1", "random")]
    verdicts = {c.claim: c.verdict for c in conclusions(board)}
    assert verdicts["FT and CLR order some pair of criteria oppositely, each order significant (paired interval excludes 0)."] == "holds"
    # Spread 6 under FT (72 - 66), 2 under CLR (79 - 77), in every seed: CLR compresses.
    assert verdicts["CLR compresses the differences between criteria: best minus worst is smaller than under FT."] == "holds"
    assert verdicts["Random pruning is competitive with the best criterion under FT (not significantly behind it)."] == "does not hold"


def test_the_page_is_self_contained_linked_to_its_records_and_byte_identical(tmp_path):
    write_board(tmp_path / "records")
    out = tmp_path / "board"
    assert leaderboard.main([str(tmp_path / "records"), "--out", str(out)]) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(first) == {"leaderboard.md", "leaderboard.csv", "tau.md", "tau.csv", "index.html"}
    assert leaderboard.main([str(tmp_path / "records"), "--out", str(out)]) == 0
    assert first == {p.name: p.read_bytes() for p in out.iterdir()}
    page = first["index.html"].decode()
    assert "http:" not in page and "https:" not in page and "//" not in page and "<svg" in page
    links = re.findall(r'<a class="num" href="([^"#][^"]*)" data-cell="([^"]+)" data-column="([^"]+)">([^<]+)</a>', page)
    assert len(links) >= 4 * 3 * 3  # every per-seed value of the four ranked criteria, three columns
    for link, cell, column, text in links:
        record = json.loads((out / unquote(link)).read_text())  # hrefs are URL paths
        assert record["identity"]["cell"] == cell
        if column.startswith("metrics."):
            assert f"{record['metrics'][column.removeprefix('metrics.')]:.2f}" == text
    assert "does not hold" in page and 'id="rank-chart"' in page


# --- submitting an entry ------------------------------------------------------------------------------


def test_an_entry_off_the_flops_target_is_refused_in_one_line_before_training(tmp_path, capsys):
    write_board(tmp_path / "records")  # their configs name the target: 50% of the FLOPs
    code = submit.main(["pruner=torch_pruning", "pruner.target_reduction=null", "pruner.ratio=0.3",
                        "--records", str(tmp_path / "records"), "--sweep-dir", str(tmp_path / "entry"),
                        f"paths.cache={tmp_path / 'cache'}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    # ResNet-20 at 0.3 per block's first conv keeps int(16 x 0.7) = 11 of 16 channels, ...: 30.91% of the FLOPs.
    assert err.startswith("error: the entry removes 30.91% of the flops; the leaderboard's target is 50.00% ± 1 point")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "entry").exists()


def test_an_entry_must_keep_the_schedules_and_the_leaderboards_baselines(tmp_path, capsys):
    assert submit.main(["pruner=torch_pruning", "schedule=lrw"]) == 2
    assert "the leaderboard fixes the schedules" in capsys.readouterr().err
    assert submit.main(["pruner=torch_pruning", "--records", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.startswith("error: no leaderboard records under")
    write_board(tmp_path / "records")  # made-up identities: no real baseline is theirs
    assert submit.main(["pruner=torch_pruning", "--check-only", "--records", str(tmp_path / "records")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not the leaderboard's (base-0)" in err


TINY_BOARD = ["dataset=synthetic", "dataset.train_size=256", "dataset.test_size=128", "dataset.val_size=64",
              "dataset.train_subset=null", "model.width=0.25", "recipe.epochs=4", "recipe.milestones=[2]",
              "recipe.batch_size=64", "wandb.mode=disabled", "progress=off", "device=cpu"]


def _stages(cache: Path) -> Dict[str, int]:
    return {stage: len(list((cache / stage).iterdir())) if (cache / stage).exists() else 0
            for stage in ("baselines", "pruned", "cells")}


@pytest.mark.cell
@pytest.mark.sweep
@pytest.mark.subprocess
def test_a_submitted_entry_trains_only_its_own_cells(tmp_path):
    cache = tmp_path / "cache"
    tiny = [*TINY_BOARD, f"paths.cache={cache}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB")} | {"PYTHONPATH": str(REPO)}
    shipped = subprocess.run([sys.executable, str(REPO / "benchmark" / "run.py"), "-m", "+experiment=leaderboard_small",
                              *tiny, "pruner.name=l1,random", "pruner.target_reduction=0.48",
                              "pruner.importance._target_=torch_pruning.importance.MagnitudeImportance",
                              f"hydra.sweep.dir={tmp_path / 'shipped'}"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=900)
    assert shipped.returncode == 0, shipped.stderr[-2000:]
    # At a quarter of ResNet-20's width (4, 8, 16 channels) one uniform ratio reaches 47.88% of the FLOPs at best:
    # this board's target is 48%. Two criteria x FT, CLR, LLR x 3 linked seeds: 3 baselines, 6 pruned models, 18 cells.
    assert _stages(cache) == {"baselines": 3, "pruned": 6, "cells": 18}
    entry = subprocess.run([sys.executable, "-m", "benchmark.launch.submit", "pruner=custom",
                            "pruner.function=examples.leaderboard_entry:l1_times_gamma", *tiny,
                            "--records", str(tmp_path / "shipped"), "--sweep-dir", str(tmp_path / "entry"),
                            "--out", str(tmp_path / "board")], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=900)
    assert entry.returncode == 0, entry.stderr[-2000:]
    # The entry's own: no baseline, 3 pruned models (one per seed), 9 cells (3 schedules x 3 seeds).
    assert _stages(cache) == {"baselines": 3, "pruned": 9, "cells": 27}
    assert len(list((tmp_path / "entry").rglob("record.json"))) == 9
    for column in ("before retraining", "FT", "CLR", "LLR"):
        assert re.search(rf"l1_times_gamma: {column}: rank [\d.]+ of 3", entry.stdout), entry.stdout
    assert "Kendall's tau-b" in entry.stdout and (tmp_path / "board" / "index.html").exists()
