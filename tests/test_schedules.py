"""The four retraining schedules at the key points of the paper's per-budget table."""

from __future__ import annotations


import pytest
import torch

from benchmark.errors import ConfigError
from benchmark.retraining import schedules
from benchmark.retraining.schema import BudgetConf, LRWScheduleConf, OriginalScheduleConf, RecipeConf
from tests.conftest import compose_config

N = 782  # CIFAR-10, batch 64


def cfg_for(schedule: str, epochs: int):
    """The real config, typed: its schedule and recipe are plain dataclasses, fast per step."""
    return compose_config([f"schedule={schedule}", f"budget.epochs={epochs}"])


def epoch_lrs(schedule: str, epochs: int, steps: int = N):
    cfg = cfg_for(schedule, epochs)
    return schedules.lr_at_epoch_start(steps, epochs, cfg.schedule, cfg.recipe)


def runs(lrs):
    """Collapse per-epoch lrs into (lr, first epoch, last epoch) runs."""
    out = []
    for e, lr in enumerate(lrs):
        if out and lr == pytest.approx(out[-1][0]):
            out[-1][2] = e
        else:
            out.append([lr, e, e])
    return [tuple(r) for r in out]


# paper.md, "Per-budget CIFAR table (E=160)": LRW column.
LRW_TABLE = {
    40: [(0.001, 0, 39)],
    56: [(0.01, 0, 15), (0.001, 16, 55)],
    72: [(0.01, 0, 31), (0.001, 32, 71)],
    88: [(0.1, 0, 7), (0.01, 8, 47), (0.001, 48, 87)],
    152: [(0.1, 0, 71), (0.01, 72, 111), (0.001, 112, 151)],
}
# SLR column: warm-up / 0.1 / 0.01 / 0.001 epoch ranges.
SLR_TABLE = {
    40: [(0, 3), (4, 21), (22, 30), (31, 39)],
    56: [(0, 4), (5, 29), (30, 41), (42, 55)],
    72: [(0, 6), (7, 38), (39, 54), (55, 71)],
    88: [(0, 7), (8, 46), (47, 66), (67, 87)],
    152: [(0, 14), (15, 82), (83, 116), (117, 151)],
}
# CLR column: warm-up length in epochs.
CLR_WARMUP = {40: 4, 56: 5.6, 72: 7.2, 88: 8.8, 152: 15.2}


@pytest.mark.parametrize("epochs", sorted(LRW_TABLE))
def test_lrw_matches_paper_table(epochs):
    got = runs(epoch_lrs("lrw", epochs))
    assert [(pytest.approx(lr), a, b) for lr, a, b in LRW_TABLE[epochs]] == got


@pytest.mark.parametrize("epochs", sorted(SLR_TABLE))
def test_slr_matches_paper_table(epochs):
    lrs = epoch_lrs("slr", epochs)
    (w0, w1), (a0, a1), (b0, b1), (c0, c1) = SLR_TABLE[epochs]
    assert lrs[0] == pytest.approx(0.001)  # epoch 0 trains at the start lr
    warm = lrs[w0 : w1 + 1]
    assert all(x < y for x, y in zip(warm, warm[1:])), "cosine warm-up rises every epoch"
    assert all(lr < 0.1 for lr in warm)
    assert runs(lrs[a0:]) == [(pytest.approx(0.1), 0, a1 - a0), (pytest.approx(0.01), b0 - a0, b1 - a0),
                              (pytest.approx(0.001), c0 - a0, c1 - a0)]


def test_slr_warmup_follows_the_cosine_formula():
    lrs = epoch_lrs("slr", 72)
    w = 7
    for e in range(w):
        expected = 0.001 + (0.1 - 0.001) * (1 - torch.cos(torch.tensor(torch.pi * e / w)).item()) / 2
        assert lrs[e] == pytest.approx(expected)


@pytest.mark.parametrize("epochs", sorted(CLR_WARMUP))
def test_clr_peak_lands_after_ten_percent_of_iterations(epochs):
    cfg = cfg_for("clr", epochs)
    lrs = [schedules.lr_momentum(s, N, epochs, cfg.schedule, cfg.recipe)[0] for s in range(epochs * N)]
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert peak / N == pytest.approx(CLR_WARMUP[epochs], abs=1.5 / N)
    assert lrs[peak] == pytest.approx(0.1)
    assert lrs[0] == pytest.approx(0.001)
    assert lrs[-1] == pytest.approx(1e-5, rel=1e-3)


@pytest.mark.parametrize("epochs,steps", [(40, 50), (7, 13)])
def test_clr_equals_torch_onecycle_per_iteration(epochs, steps):
    """The pure function reproduces PyTorch's OneCycleLR, lr and momentum, at every step."""
    cfg = cfg_for("clr", epochs)
    total = epochs * steps
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total, pct_start=0.1, div_factor=100,
                                              final_div_factor=100, anneal_strategy="cos", three_phase=False)
    for step in range(total):
        lr, momentum = schedules.lr_momentum(step, steps, epochs, cfg.schedule, cfg.recipe)
        group = opt.param_groups[0]
        assert lr == pytest.approx(group["lr"], rel=1e-9)
        assert momentum == pytest.approx(group["momentum"], rel=1e-9)
        opt.step()
        ref.step()


def test_clr_without_momentum_cycling_uses_recipe_momentum():
    cfg = compose_config(["schedule=clr", "schedule.cycle_momentum=false"])
    moms = {schedules.lr_momentum(s, 10, 40, cfg.schedule, cfg.recipe)[1] for s in range(400)}
    assert moms == {0.9}


def test_clr_lrw_rule_takes_max_lr_at_the_rewinding_point():
    cfg = compose_config(["schedule=clr_lrw", "budget.epochs=72"])
    lrs = [schedules.lr_momentum(s, 10, 72, cfg.schedule, cfg.recipe)[0] for s in range(720)]
    assert max(lrs) == pytest.approx(0.01)  # lr_orig(160 - 72) = 0.01
    assert lrs[-1] == pytest.approx(0.01 / 1000)


def test_ft_is_the_last_original_lr():
    assert epoch_lrs("ft", 56) == pytest.approx([0.001] * 56)


@pytest.mark.parametrize("total,milestones,gamma,epochs", [(37, [10, 20, 33], 0.3, 17), (90, [30, 60], 0.1, 45),
                                                           (12, [6, 9], 0.5, 12)])
def test_lrw_tail_equals_original_tail_for_any_recipe(total, milestones, gamma, epochs):
    """LRW replays the last T epochs of the original schedule, here produced by MultiStepLR."""
    recipe = RecipeConf(epochs=total, lr=0.2, milestones=milestones, gamma=gamma, momentum=0.9)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    ref = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=gamma)
    original = []
    for _ in range(total):
        original.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    lrw = schedules.lr_at_epoch_start(5, epochs, LRWScheduleConf(), recipe)
    assert lrw == pytest.approx(original[total - epochs :])
    baseline = schedules.lr_at_epoch_start(5, total, OriginalScheduleConf(), recipe)
    assert baseline == pytest.approx(original)


def test_schedules_derive_from_the_recipe_not_from_160_epochs():
    cfg = compose_config(["schedule=slr", "recipe.epochs=90", "recipe.milestones=[30,60]", "recipe.lr=0.4",
                          "budget.fraction=0.5", "budget.epochs=null"])
    epochs = schedules.retrain_epochs(cfg.budget, cfg.recipe)
    assert epochs == 45
    lrs = schedules.lr_at_epoch_start(10, epochs, cfg.schedule, cfg.recipe)
    assert max(lrs) == pytest.approx(0.4)
    assert lrs[0] == pytest.approx(0.4 * 0.01)


def test_lrw_longer_than_the_original_schedule_is_a_one_line_error():
    cfg = cfg_for("lrw", 200)
    with pytest.raises(ConfigError, match="T=200") as info:
        schedules.validate(cfg.schedule, cfg.recipe, 200)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("epochs,fraction", [(0, None), (-3, None), (None, 0.0), (40, 0.25), (None, None)])
def test_bad_budgets_fail(epochs, fraction):
    budget = BudgetConf(epochs=epochs, fraction=fraction)
    with pytest.raises(ConfigError):
        schedules.retrain_epochs(budget, RecipeConf(epochs=160))


def test_budget_fraction_resolves_against_original_epochs():
    assert schedules.retrain_epochs(BudgetConf(epochs=None, fraction=0.95), RecipeConf(epochs=160)) == 152


@pytest.mark.parametrize("option,epochs,expected", [
    ("hrank_cifar", 30, [0.01] * 5 + [0.001] * 25),
    ("lin2019_cifar", 100, [0.001] * 100),
    ("li2020", 120, [0.01] * 36 + [0.001] * 36 + [0.0001] * 48),
    ("he2019", 90, [0.01] * 30 + [0.001] * 60),
])
def test_published_methods_recipes(option, epochs, expected):
    """paper.md issue list: HRank /10 after 5 of 30; Lin 2019 fixed 0.001; Li 2020 /10 at 30% and 60%; He 2019 /10 after 30."""
    assert epoch_lrs(option, epochs) == pytest.approx(expected)
