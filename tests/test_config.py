"""The Hydra config: every option composes, schemas reject wrong types at compose time."""

from __future__ import annotations

import re

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from benchmark.cell import validate
from benchmark.errors import ConfigError
from tests.conftest import CONF, compose_config, compose_dictconfig

GROUPS = ["dataset", "model", "recipe", "pruner", "schedule", "budget", "distill"]


@pytest.mark.parametrize("group,option", [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))])
def test_every_group_option_composes_and_resolves(group, option):
    # An ImageNet option needs its partners (an ImageNet model and recipe); see the pairing test.
    partners = {("dataset", "imagenet"): ["model=resnet50", "recipe=imagenet"], ("recipe", "imagenet"):
                ["dataset=imagenet", "model=resnet50"], ("model", "resnet18"): ["dataset=imagenet", "recipe=imagenet"],
                ("model", "resnet34"): ["dataset=imagenet", "recipe=imagenet"],
                ("model", "resnet50"): ["dataset=imagenet", "recipe=imagenet"],
                # Options that name the user's code or file (docs/bring_your_own_method.md).
                ("model", "custom"): ["model._target_=torchvision.models.mobilenet_v2"],
                ("pruner", "custom"): ["pruner.function=examples.my_pruner:slim"],
                ("pruner", "checkpoint"): ["pruner.path=pruned.pt"],
                # Language-model options need the other language-model groups (docs/language_models.md).
                **{key: ["dataset=text", "model=causal_lm", "recipe=lm", "pruner=wanda"]
                   for key in [("dataset", "text"), ("model", "causal_lm"), ("recipe", "lm"), ("pruner", "wanda"),
                               ("pruner", "magnitude"), ("pruner", "sparsegpt")]}}.get((group, option), [])
    partners = [p for p in partners if not p.startswith(f"{group}=")]
    cfg = compose_dictconfig([f"{group}={option}", *partners])
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    typed = OmegaConf.to_object(cfg)
    # The option passes the pre-training checks with the defaults, which return the budget in epochs.
    assert validate(typed) == budget_epochs(typed)
    if group in ("dataset", "model") and option != "causal_lm":  # causal_lm: model.name is the hub id (or a label)
        assert cfg[group].name == option


def budget_epochs(cfg) -> int:
    """T as the composed budget states it: epochs, or round(fraction x E)."""
    return cfg.budget.epochs if cfg.budget.epochs is not None else round(cfg.budget.fraction * cfg.recipe.epochs)


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_composes_and_sweeps_only_keys_and_options_that_exist(experiment):
    """A misspelt key or option in a preset's sweep would otherwise fail only when the sweep
    launches (its validation in tests/test_validation.py)."""
    cfg = compose_dictconfig([f"+experiment={experiment}"])
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    text = (CONF / "experiment" / f"{experiment}.yaml").read_text().splitlines()
    assert text[0] == "# @package _global_" and text[1].startswith("# "), "opens by naming what it reproduces"
    params = OmegaConf.select(OmegaConf.load(CONF / "experiment" / f"{experiment}.yaml"), "hydra.sweeper.params") or {}
    for key, values in params.items():
        if (CONF / key).is_dir():  # a group: each option is a file
            missing = [v for v in str(values).split(",") if not (CONF / key / f"{v.strip()}.yaml").exists()]
            assert not missing, f"{experiment} sweeps {key}={','.join(missing)}, which conf/{key}/ does not hold"
        else:
            assert OmegaConf.select(cfg, key.lstrip("+"), default="<absent>") != "<absent>", f"{experiment} sweeps {key}"


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


@pytest.mark.parametrize("overrides,message", [
    (["dataset=imagenet"], "model=resnet56 is defined for cifar data; dataset=imagenet needs one of: resnet18, resnet34, resnet50"),
    (["dataset=imagenet", "model=resnet50"], "recipe=cifar is written for cifar data; dataset=imagenet needs recipe=imagenet"),
    (["model=resnet18"], "model=resnet18 is defined for imagenet data; dataset=cifar10 needs one of: resnet20"),
    (["dataset=synthetic", "recipe=imagenet"], "recipe=imagenet is written for imagenet data"),
])
def test_a_dataset_model_or_recipe_written_for_other_data_fails_in_one_line(overrides, message):
    """dataset=imagenet no longer composes silently with the CIFAR recipe and ResNet-56."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate(compose_config(overrides))


def test_the_primary_config_lists_every_option_of_every_group():
    """The comment beside each slot of conf/config.yaml names today's options, all of them."""
    slots = {}
    for line in (CONF / "config.yaml").read_text().splitlines():
        if line.startswith("  - ") and ":" in line and "#" in line:
            group = line[4:line.index(":")].strip()
            slots[group] = set(re.findall(r"[a-z0-9_]+", line.split("#", 1)[1]))
    for group in [*GROUPS, "seed"]:
        options = {p.stem for p in (CONF / group).glob("*.yaml")}
        assert options <= slots[group], f"conf/config.yaml does not list {sorted(options - slots[group])} for {group}"
