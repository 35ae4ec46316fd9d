"""Recipes as data: optimizer, shape and warm-up, and the retraining schedules derived from any recipe."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.errors import ConfigError
from benchmark.retraining import optimizers, schedules
from benchmark.retraining.schema import (CLRScheduleConf, FTScheduleConf, LRWScheduleConf, OriginalScheduleConf, RecipeConf,
                                         SLRScheduleConf)
from benchmark.tasks import cell_identity
from benchmark.train import TrainSettings, train
from tests.conftest import compose_config

COSINE = RecipeConf(epochs=12, lr=0.4, milestones=[], shape="cosine", warmup_epochs=3, min_lr=0.004)
STEPS = 7


def torch_reference(recipe: RecipeConf, steps: int) -> list:
    """The recipe as torch builds it: LinearLR warm-up from ~0, then CosineAnnealingLR to min_lr, per iteration."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=recipe.lr)
    warm = recipe.warmup_epochs * steps
    parts = [torch.optim.lr_scheduler.LinearLR(opt, start_factor=1e-12, end_factor=1.0, total_iters=warm),
             torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=(recipe.epochs - recipe.warmup_epochs) * steps,
                                                        eta_min=recipe.min_lr)]
    ref = torch.optim.lr_scheduler.SequentialLR(opt, parts, milestones=[warm])
    lrs = []
    for _ in range(recipe.epochs * steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    return lrs


def rates(schedule, recipe, epochs, steps=STEPS):
    return [schedules.lr_momentum(s, steps, epochs, schedule, recipe)[0] for s in range(epochs * steps)]


def test_cosine_recipe_with_warmup_equals_torch_sequential_linear_then_cosine():
    ours = rates(OriginalScheduleConf(), COSINE, COSINE.epochs)
    assert ours == pytest.approx(torch_reference(COSINE, STEPS), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("epochs", [1, 5, 12])
def test_lrw_on_a_cosine_recipe_replays_its_last_t_epochs_per_iteration(epochs):
    original = torch_reference(COSINE, STEPS)
    assert rates(LRWScheduleConf(), COSINE, epochs) == pytest.approx(original[-epochs * STEPS:], rel=1e-9, abs=1e-12)


def test_ft_and_peaks_derive_from_the_recipe_not_from_sgd_steps():
    original = torch_reference(COSINE, STEPS)
    assert rates(FTScheduleConf(), COSINE, 4) == pytest.approx([original[(COSINE.epochs - 1) * STEPS]] * 4 * STEPS)
    assert max(rates(CLRScheduleConf(), COSINE, 4)) == pytest.approx(0.4, rel=1e-3)  # the peak falls between steps
    slr = rates(SLRScheduleConf(), COSINE, 10)
    assert slr[0] == pytest.approx(original[(COSINE.epochs - 1) * STEPS])  # starts at the final rate
    assert max(slr) == pytest.approx(0.4) and slr[-1] < 0.4 * 0.05  # peak, then the cosine compressed
    assert all(a >= b for a, b in zip(slr[STEPS:], slr[STEPS + 1:])), "after the 1-epoch warm-up it only decays"


def test_step_recipe_defaults_keep_the_pinned_baseline_identity_and_new_fields_count():
    base = cell_identity(compose_config(["precision=fp32"]), 40)  # auto would be bf16 on a CPU with native bf16
    assert base.baseline == "base-1015a669a525c005"  # the pin of tests/test_engine.py
    for override in ("recipe.optimizer=adamw", "recipe.shape=cosine", "recipe.warmup_epochs=5"):
        assert cell_identity(compose_config(["precision=fp32", override]), 40).baseline != base.baseline, override


def test_adamw_recipe_builds_adamw_and_clr_cycles_beta1():
    recipe = RecipeConf(optimizer="adamw", lr=1e-3, betas=[0.9, 0.98], weight_decay=0.05)
    opt = optimizers.build([torch.zeros(2, requires_grad=True)], recipe, 1e-3, optimizers.recipe_momentum(recipe))
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.param_groups[0]["betas"] == (0.9, 0.98) and opt.param_groups[0]["weight_decay"] == 0.05
    optimizers.set_rates(opt, 5e-4, 0.85)
    assert opt.param_groups[0]["lr"] == 5e-4 and opt.param_groups[0]["betas"] == (0.85, 0.98)
    moms = {schedules.lr_momentum(s, 10, 4, CLRScheduleConf(), recipe)[1] for s in range(40)}
    assert min(moms) == pytest.approx(0.85) and max(moms) == pytest.approx(0.95)
    ft = {schedules.lr_momentum(s, 10, 4, FTScheduleConf(), recipe)[1] for s in range(40)}
    assert ft == {0.9}  # beta1 of the recipe


def test_clr_does_not_invent_momentum_for_plain_sgd():
    recipe = RecipeConf(momentum=0.0)
    assert {schedules.lr_momentum(s, 10, 4, CLRScheduleConf(), recipe)[1] for s in range(40)} == {0.0}


def test_training_under_an_adamw_cosine_recipe_uses_adamw_state(tmp_path):
    from benchmark.data import DeviceLoader, synthetic_splits
    from benchmark.data.schema import SyntheticDatasetConf

    split, _ = synthetic_splits(SyntheticDatasetConf(train_size=64, test_size=8))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    recipe = RecipeConf(optimizer="adamw", epochs=2, lr=1e-3, shape="cosine", warmup_epochs=1, milestones=[])
    result = train(model, DeviceLoader(split, 32, torch.device("cpu"), True, seed=0), epochs=2,
                   schedule=OriginalScheduleConf(), recipe=recipe, checkpoint=tmp_path / "c.pt", desc="adamw",
                   settings=TrainSettings(progress="off"))
    assert [row["lr"] for row in result.history] == pytest.approx([0.0, 1e-3])  # warm-up starts from 0
    state = torch.load(tmp_path / "c.pt", weights_only=False)["optimizer"]["state"]
    assert "exp_avg_sq" in next(iter(state.values()))


@pytest.mark.parametrize("change,message", [
    (dict(optimizer="lion"), "recipe.optimizer='lion' is unknown; valid: sgd, adamw"),
    (dict(shape="poly"), "recipe.shape='poly' is unknown; valid: step, cosine"),
    (dict(warmup_epochs=160), "recipe.warmup_epochs=160"),
    (dict(shape="cosine", min_lr=1.0), "recipe.min_lr=1.0"),
])
def test_bad_recipes_are_one_line_errors(change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")) as info:
        schedules.validate(FTScheduleConf(), dataclasses.replace(RecipeConf(), **change), 40)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("option", ["vit_cifar", "cosine_sgd"])
def test_shipped_non_step_recipes_derive_every_schedule(option):
    cfg = compose_config([f"recipe={option}"])
    recipe = cfg.recipe
    assert recipe.shape == "cosine" and recipe.warmup_epochs > 0
    for schedule in (FTScheduleConf(), LRWScheduleConf(), SLRScheduleConf(), CLRScheduleConf()):
        schedules.validate(schedule, recipe, 40)
        lrs = schedules.lr_at_epoch_start(10, 40, schedule, recipe)
        assert all(0 <= lr <= recipe.lr for lr in lrs) and max(lrs) > 0


def test_a_checkpoint_of_the_earlier_language_model_loop_restarts_training_instead_of_failing(tmp_path, caplog):
    """Before the one loop (issue 28) the language models checkpointed ``trainable``, not ``model``:
    such a file restarts the stage from epoch 0 with a warning, never a KeyError."""
    from benchmark.artefacts import atomic_save
    from benchmark.data import DeviceLoader, synthetic_splits
    from benchmark.data.schema import SyntheticDatasetConf

    split, _ = synthetic_splits(SyntheticDatasetConf(train_size=64, test_size=8))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    checkpoint = tmp_path / "checkpoint.pt"
    atomic_save({"trainable": {}, "optimizer": {}, "epoch": 1, "rng": torch.get_rng_state(), "history": [{}]}, checkpoint)
    recipe = RecipeConf(epochs=2, lr=0.01, milestones=[1])
    with caplog.at_level("WARNING"):
        result = train(model, DeviceLoader(split, 32, torch.device("cpu"), True, seed=0), epochs=2,
                       schedule=FTScheduleConf(), recipe=recipe, checkpoint=checkpoint, desc="retrain ft",
                       settings=TrainSettings(progress="off"))
    assert result.status == "finished" and [row["epoch"] for row in result.history] == [0, 1]
    assert "earlier language-model loop" in caplog.text
