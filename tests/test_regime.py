"""The findings page's regime: each baseline's curve and verdict, claims tested on unconverged
baselines marked, and the suite's gains beside the paper's at the same T / E."""

from __future__ import annotations

import re

import pytest

from benchmark.report import findings, regime
from benchmark.report.metric import TOP1
from tests.report_fixtures import write_findings


def page_of(tmp_path, converged):
    write_findings(tmp_path / "runs", converged=converged)
    return findings.write_report([tmp_path / "runs"], tmp_path / "report", TOP1).read_text()


def verdict_cells(page: str):
    """Each claim row's verdict cell: its text and the regime note under it (if any)."""
    return re.findall(r'<tr id="(c\d-[^"]*)" class="comparison".*?<td class="[^"]*">(.*?)</td>', page, flags=re.S)


def test_claims_on_an_unconverged_baseline_say_so_and_converged_ones_do_not(tmp_path):
    page = page_of(tmp_path / "a", {0: True, 1: True, 2: False})
    rows = verdict_cells(page)
    assert len(rows) == 12 + 2 + 2  # claim 1: (l1, mwp) x T x 3; claim 2: 2 budgets; claim 3: l1, mwp
    assert all("tested on unconverged baselines (1 of 3 not converged)" in text for _, text in rows)
    assert re.findall(r'data-converged="(true|false)"', page) == ["true", "true", "false"]
    assert "final training top-1 94.00% &lt; 97%" in page
    clean = page_of(tmp_path / "b", {0: True, 1: True, 2: True})
    assert not any("regime" in text for _, text in verdict_cells(clean))
    assert "3 of 3 converged" in clean


def test_records_without_a_verdict_are_not_called_converged(tmp_path):
    page = page_of(tmp_path, None)
    assert all("convergence not recorded" in text for _, text in verdict_cells(page))


# The paper's CIFAR-10 change against the unpruned network (../shared/paper.md, read off its
# figure), gain over FT by hand: CLR at T = 40, ResNet-56-B -0.05 - (-0.53) = +0.48,
# ResNet-110-B -0.20 - (-0.60) = +0.40, VGG-16-A -0.10 - (-0.15) = +0.05; at T = 72 / 88
# (50% of E lies between): ResNet-56-B +0.20 - (-0.40) = +0.60 / +0.17 - (-0.43) = +0.60,
# ResNet-110-B +0.13 - (-0.51) = +0.64 / +0.03 - (-0.47) = +0.50, VGG-16-A +0.40 - (-0.09) = +0.49 /
# +0.33 - (-0.10) = +0.43; LRW at T = 40, ResNet-56-B -0.52 - (-0.53) = +0.01.
@pytest.mark.parametrize("schedule,fraction,expected", [
    ("clr", 0.25, [("ResNet-56-B", 40, 0.48), ("ResNet-110-B", 40, 0.40), ("VGG-16-A", 40, 0.05)]),
    ("clr", 0.5, [("ResNet-56-B", 72, 0.60), ("ResNet-56-B", 88, 0.60), ("ResNet-110-B", 72, 0.64),
                  ("ResNet-110-B", 88, 0.50), ("VGG-16-A", 72, 0.49), ("VGG-16-A", 88, 0.43)]),
    ("lrw", 0.25, [("ResNet-56-B", 40, 0.01), ("ResNet-110-B", 40, 0.00), ("VGG-16-A", 40, -0.02)]),
])
def test_the_papers_gain_at_the_same_relative_budget(schedule, fraction, expected):
    got = [(g["network"], g["T"], g["gain"]) for g in regime.paper_gains(schedule, fraction)]
    assert got == [(n, t, pytest.approx(v, abs=1e-9)) for n, t, v in expected]


def test_the_page_sets_each_gain_beside_the_papers(tmp_path):
    page = page_of(tmp_path, {0: True, 1: True, 2: True})
    rows = re.findall(r'<tr class="paper-row" data-schedule="(\w+)"><td>([^<]*)</td><td>\w+</td><td>(\d+) / (\d+)</td>'
                      r'<td>([^<]*)</td><td><a class="stat" href="#[^"]*">([^<]*)</a>', page)
    assert len(rows) == 12  # (l1, mwp) x (T = 3, 6) x (LRW, SLR, CLR)
    clr_l1_t3 = [r for r in rows if r[0] == "CLR" and r[1] == "l1 0.5" and r[2] == "3"][0]
    assert clr_l1_t3[3] == "12"
    assert clr_l1_t3[4] == "ResNet-56-B +0.48 (T=40); ResNet-110-B +0.40 (T=40); VGG-16-A +0.05 (T=40)"
    # the fixture's CLR gain over FT after L1 at T = 3 is 3.0 + 0.25 r for runs r = 0, 1, 2: mean +3.25
    assert clr_l1_t3[5].startswith("+3.25 [")


def test_the_converged_scale_is_the_papers_recipe_and_budgets_on_fewer_images():
    """findings_converged changes the data, not the regime: the paper's E = 160 step recipe, its T = 40
    and 80, a validation split for the rule to read, and findings_small's grid of claims."""
    from omegaconf import OmegaConf

    from tests.conftest import CONF, compose_config

    cfg = compose_config(["+experiment=findings_converged"])
    paper = compose_config(["+experiment=pfec_cifar10_resnet56"]).recipe  # the paper's CIFAR recipe, untouched
    assert (cfg.recipe.epochs, list(cfg.recipe.milestones), cfg.recipe.lr, cfg.recipe.batch_size) == (160, [80, 120], 0.1, 64)
    assert (cfg.recipe.epochs, list(cfg.recipe.milestones), cfg.recipe.weight_decay) == \
        (paper.epochs, list(paper.milestones), paper.weight_decay)
    assert cfg.dataset.val_size > 0 and cfg.dataset.train_subset == 1000 and cfg.model.name == "resnet20"
    params = OmegaConf.load(CONF / "experiment" / "findings_converged.yaml").hydra.sweeper.params
    fractions = [float(f) for f in str(params["budget.fraction"]).split(",")]
    assert [round(f * cfg.recipe.epochs) for f in fractions] == [40, 80]  # the paper's T = 40 and 80 of E = 160
    small = OmegaConf.load(CONF / "experiment" / "findings_small.yaml").hydra.sweeper
    ours = OmegaConf.load(CONF / "experiment" / "findings_converged.yaml").hydra.sweeper
    assert ours.params["pruner.name"] == small.params["pruner.name"] and ours.params["schedule"] == small.params["schedule"]
    assert ours.params["seed.retrain"] == small.params["seed.retrain"] and ours.exclude == small.exclude
