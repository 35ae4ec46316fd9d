"""Tests of the claims the README makes, each against an independent reference where one exists."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark import pruning
from benchmark.tasks import image
from benchmark.retraining import schedules
from benchmark.cell import run_cell
from benchmark.data import image_size, load_splits, open_data
from benchmark.pruning.spec import PruningSpec
from benchmark.report import tables
from benchmark.report.collect import collect
from benchmark.tasks.image import evaluate
from benchmark.train import train
from tests.conftest import compose_config
from tests.test_schedules import LRW_TABLE, SLR_TABLE
from tests.test_tables import write_record


# --- no test-set selection ---------------------------------------------------------------------

def _rebuilt(cfg, saved):
    model = pruning.rebuild(image.dense_model(cfg, torch.device("cpu")), saved["history"], image_size(cfg.dataset))
    model.load_state_dict(saved["state_dict"])
    return model


@pytest.mark.cell
def test_the_recorded_test_accuracy_is_the_saved_final_model_on_the_test_split(tiny_cfg, tmp_path):
    cfg = tiny_cfg("schedule=clr", "dataset.val_size=64")
    record = run_cell(cfg, tmp_path / "out").as_dict()
    saved = torch.load(tmp_path / "cache" / "cells" / record["identity"]["cell"] / "model.pt", weights_only=True)
    data = open_data(cfg.dataset, cfg.recipe.batch_size, torch.device("cpu"))
    again = evaluate(_rebuilt(cfg, saved), data.evals["test"], cfg.fast)
    assert again["top1"] == record["metrics"]["test_top1"] and again["top5"] == record["metrics"]["test_top5"]
    assert all(not any("test" in key for key in row) for row in record["history"]), "no history row sees the test set"
    assert all("val_top1" in row for row in record["history"])


def _digests(split) -> set:
    return {hashlib.sha256(image.numpy().tobytes()).hexdigest() for image in split.images}


def test_validation_and_test_never_overlap(tiny_cfg):
    splits = load_splits(tiny_cfg("dataset.val_size=64").dataset)
    val, test, train_ = _digests(splits.val), _digests(splits.test), _digests(splits.train)
    assert len(val) == 64 and not val & test and not val & train_ and not train_ & test


# --- the optimizer follows the schedule --------------------------------------------------------

def _optimizer_trace(monkeypatch, cfg, epochs: int, steps: int):
    """(lr, momentum) read from the optimizer at every step of train()."""
    seen = []
    step = torch.optim.SGD.step

    def recording(self, *args, **kwargs):
        seen.append((self.param_groups[0]["lr"], self.param_groups[0]["momentum"]))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording)
    data = open_data(cfg.dataset, cfg.recipe.batch_size, torch.device("cpu"))
    loader = data.train(0)
    assert len(loader) == steps
    model = image.dense_model(cfg, torch.device("cpu"))
    result = train(model, loader, epochs=epochs, schedule=cfg.schedule, recipe=cfg.recipe,
                   checkpoint=Path(cfg.paths.cache) / f"ck-{cfg.schedule.name}-{epochs}.pt", desc="t")
    monkeypatch.undo()  # the reference optimizers below are not traced
    assert result.status == "finished" and len(seen) == epochs * steps
    return seen


SMALL = ["dataset.train_size=8", "recipe.batch_size=4", "model.width=0.25"]


@pytest.mark.parametrize("epochs", [3, 7])
def test_clr_in_train_equals_torch_onecycle_at_every_step(tiny_cfg, monkeypatch, epochs):
    cfg = tiny_cfg("schedule=clr", f"budget.epochs={epochs}", *SMALL)
    seen = _optimizer_trace(monkeypatch, cfg, epochs, steps=2)
    s = cfg.schedule
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.recipe.lr, momentum=cfg.recipe.momentum)
    onecycle = torch.optim.lr_scheduler.OneCycleLR(
        reference, max_lr=cfg.recipe.lr, total_steps=epochs * 2, pct_start=s.pct_start, anneal_strategy=s.anneal,
        div_factor=s.div_factor, final_div_factor=s.final_div_factor, cycle_momentum=s.cycle_momentum,
        base_momentum=s.base_momentum, max_momentum=s.max_momentum)
    expected = []
    for _ in range(epochs * 2):
        expected.append((reference.param_groups[0]["lr"], reference.param_groups[0]["momentum"]))
        reference.step()
        onecycle.step()
    np.testing.assert_allclose(seen, expected, rtol=1e-9, atol=1e-12)


def _paper_epochs(table):
    """Per-epoch learning rates from a (lr, first, last) table."""
    return [lr for lr, first, last in table for _ in range(first, last + 1)]


def test_lrw_and_slr_in_train_follow_the_papers_table_at_every_step(tiny_cfg, monkeypatch):
    base = [*SMALL, "recipe.epochs=160", "recipe.milestones=[80,120]"]  # E = 160 and its drops, as the table
    lrw = _optimizer_trace(monkeypatch, tiny_cfg("schedule=lrw", "budget.epochs=56", *base), 56, steps=2)
    per_step = [lr for lr in _paper_epochs(LRW_TABLE[56]) for _ in range(2)]
    np.testing.assert_allclose([lr for lr, _ in lrw], per_step, rtol=1e-12)
    assert {m for _, m in lrw} == {0.9}
    slr = _optimizer_trace(monkeypatch, tiny_cfg("schedule=slr", "budget.epochs=40", *base), 40, steps=2)
    (w0, w1), (a0, a1), (b0, b1), (c0, c1) = SLR_TABLE[40]
    lrs = [lr for lr, _ in slr]
    warm = lrs[: 2 * (w1 + 1)]
    per_epoch = warm[::2]  # SLR is stepped per epoch: both iterations of an epoch share its rate
    assert warm[1::2] == per_epoch, "constant within each warm-up epoch"
    assert all(x < y for x, y in zip(per_epoch, per_epoch[1:])) and max(warm) < 0.1, "cosine warm-up rises every epoch"
    for value, first, last in ((0.1, a0, a1), (0.01, b0, b1), (0.001, c0, c1)):
        assert lrs[2 * first : 2 * (last + 1)] == pytest.approx([value] * 2 * (last - first + 1)), value


# --- pruning computes what the dense model with removed filters zeroed computes ----------------

def test_the_pruned_model_equals_the_dense_model_with_removed_filters_and_bn_channels_zeroed():
    cfg = compose_config(["model=resnet20", "model.width=0.5", "device=cpu"])
    dense = image.dense_model(cfg, torch.device("cpu"))
    generator = torch.Generator().manual_seed(1)
    for module in dense.modules():  # BN statistics and affine terms away from their identity init
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.weight.data.copy_(torch.randn(module.num_features, generator=generator))
            module.bias.data.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
    pruned = copy.deepcopy(dense)
    pruning.prune(pruned, PruningSpec("l1", ratio=0.5), seed=0)
    zeroed = copy.deepcopy(dense)
    for (_, _, conv), (_, _, original) in zip(zeroed.prunable_convs(), dense.prunable_convs()):
        scores = original.weight.detach().abs().sum(dim=(1, 2, 3))  # PFEC: the filters of lowest L1 go
        removed = torch.argsort(scores)[: conv.out_channels - conv.out_channels // 2]
        bn = zeroed.batchnorm_after(conv)
        with torch.no_grad():
            conv.weight[removed] = 0
            bn.weight[removed] = 0
            bn.bias[removed] = 0
    x = torch.randn(8, 3, 32, 32, generator=generator)
    dense.eval(), pruned.eval(), zeroed.eval()
    with torch.no_grad():
        assert not torch.allclose(dense(x), zeroed(x), atol=1e-3), "zeroing the filters changes the output"
        torch.testing.assert_close(pruned(x), zeroed(x), rtol=1e-4, atol=1e-5)
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in dense.parameters())


# --- the paired bootstrap ----------------------------------------------------------------------

def test_the_mark_needs_the_seed_pairing_and_more_than_one_seed(tmp_path):
    """Seeds differ by 10 points, CLR beats FT by about 0.5 in each: only the paired test sees it."""
    ft, clr = [70.0, 80.0, 90.0], [70.5, 80.6, 90.4]
    for seed, (a, b) in enumerate(zip(ft, clr)):
        write_record(tmp_path / "paired" / f"ft{seed}", "ft", seed, a)
        write_record(tmp_path / "paired" / f"clr{seed}", "clr", seed, b)
    row = tables.comparison(tables.tidy(collect([tmp_path / "paired"]))).iloc[0]
    assert row["CLR-FT"] == "+0.50*"
    # The unpaired reference: a bootstrap of the difference of independent means straddles zero.
    rng = np.random.default_rng(0)
    unpaired = rng.choice(clr, (10_000, 3)).mean(1) - rng.choice(ft, (10_000, 3)).mean(1)
    assert np.percentile(unpaired, 2.5) < 0 < np.percentile(unpaired, 97.5)
    # The same accuracies paired across seeds wrongly (CLR's seeds rotated) give no mark.
    for seed, (a, b) in enumerate(zip(ft, clr[1:] + clr[:1])):
        write_record(tmp_path / "rotated" / f"ft{seed}", "ft", seed, a)
        write_record(tmp_path / "rotated" / f"clr{seed}", "clr", seed, b)
    assert not tables.comparison(tables.tidy(collect([tmp_path / "rotated"]))).iloc[0]["CLR-FT"].endswith("*")
    write_record(tmp_path / "one" / "ft", "ft", 0, 70.0)
    write_record(tmp_path / "one" / "clr", "clr", 0, 75.0)
    assert tables.comparison(tables.tidy(collect([tmp_path / "one"]))).iloc[0]["CLR-FT"] == "+5.00"


# --- multi-round L1 with a rebuild round trip --------------------------------------------------

@pytest.mark.cell
def test_multi_round_l1_shrinks_each_round_and_rebuilds_to_the_recorded_model(tiny_cfg, tmp_path):
    cfg = tiny_cfg("pruner=l1", "pruner.ratio=0.25", "pruner.rounds=2", "budget.epochs=1", "schedule=clr")
    record = run_cell(cfg, tmp_path / "out").as_dict()
    params = [r["params"] for r in record["rounds"]]
    assert len(params) == 2 and params[1] < params[0] < record["model"]["params_before"]
    saved = torch.load(tmp_path / "cache" / "cells" / record["identity"]["cell"] / "model.pt", weights_only=True)
    model = _rebuilt(cfg, saved)  # a fresh dense model, both rounds replayed from the history
    assert sum(p.numel() for p in model.parameters()) == record["model"]["params_after"] == params[1]
    data = open_data(cfg.dataset, cfg.recipe.batch_size, torch.device("cpu"))
    assert evaluate(model, data.evals["test"], cfg.fast)["top1"] == record["metrics"]["test_top1"]
    assert schedules.retrain_epochs(cfg.budget, cfg.recipe) == 1
