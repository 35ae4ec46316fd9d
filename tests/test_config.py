"""The Hydra config: every option composes, schemas reject wrong types at compose time."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from benchmark.cell import validate
from tests.conftest import CONF, compose_config

GROUPS = ["dataset", "model", "recipe", "pruner", "schedule", "budget"]


@pytest.mark.parametrize("group,option", [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))])
def test_every_group_option_composes_and_resolves(group, option):
    cfg = compose_config([f"{group}={option}"])
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert validate(cfg) > 0  # the option passes the pre-training checks with the defaults
    if group in ("dataset", "model"):
        assert cfg[group].name == option


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_composes(experiment):
    cfg = compose_config([f"+experiment={experiment}"])
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    validate(cfg)
    text = (CONF / "experiment" / f"{experiment}.yaml").read_text().splitlines()
    assert text[0] == "# @package _global_" and text[1].startswith("# "), "opens by naming what it reproduces"


def test_paper_presets_sweep_schedules_budgets_and_three_runs():
    cfg = compose_config(["+experiment=pfec_cifar10_resnet56", "seed.retrain=2"])
    assert cfg.seed.baseline == 2 and cfg.seed.prune == 2 and cfg.pruner.variant == "B"
    for name in ("pfec_cifar10_resnet56", "pfec_cifar100_resnet110", "pfec_cifar10_vgg16"):
        params = OmegaConf.load(CONF / "experiment" / f"{name}.yaml").hydra.sweeper.params
        assert params["schedule"] == "ft,lrw,slr,clr" and params["seed.retrain"] == "0,1,2"
        assert [int(t) for t in params["budget.epochs"].split(",")] == list(range(40, 153, 16))


def test_defaults_are_the_papers_cifar_setting():
    cfg = compose_config()
    assert (cfg.dataset.name, cfg.model.name, cfg.model.width) == ("cifar10", "resnet56", 1.0)
    assert (cfg.recipe.epochs, cfg.recipe.batch_size, cfg.recipe.lr) == (160, 64, 0.1)
    assert list(cfg.recipe.milestones) == [80, 120] and cfg.recipe.nesterov is False
    assert (cfg.recipe.momentum, cfg.recipe.weight_decay) == (0.9, 1e-4)


def test_demo_experiment_pins_the_small_comparison():
    cfg = compose_config(["+experiment=demo", "schedule=lrw", "pruner=random"])
    assert cfg.dataset.name == "synthetic" and cfg.model.name == "resnet20"
    assert cfg.schedule.name == "lrw" and cfg.pruner.name == "random" and cfg.pruner.ratio == 0.5
    assert cfg.budget.epochs <= cfg.recipe.epochs


@pytest.mark.parametrize("override", ["budget.epochs=abc", "recipe.lr=fast", "model.width=[1]", "seed.retrain=x",
                                      "schedule.cycle_momentum=maybe"])
def test_wrong_types_fail_at_compose_time(override):
    with pytest.raises(ConfigCompositionException):
        compose_config(["schedule=clr", override])


def test_unknown_option_fails_and_lists_the_valid_ones():
    with pytest.raises(ConfigCompositionException, match="Available options") as info:
        compose_config(["schedule=cosin"])
    for option in ("clr", "ft", "lrw", "slr"):
        assert option in str(info.value)
