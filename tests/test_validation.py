"""Every value with a domain is checked before training, from the schema's domains: a battery
of bad inputs, each one line naming the key, the value and what is allowed."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from benchmark import validation
from benchmark.cell import validate
from benchmark.errors import ConfigError
from benchmark.retraining.schema import BudgetConf
from benchmark.schema import BenchmarkConf
from tests.conftest import CONF, REPO, compose_config

CLR, SLR, STEP, SYN = "schedule=clr", "schedule=slr", "schedule=he2019", "dataset=synthetic"
BAD = [
    (["pruner.ratio=1.5"], "pruner.ratio=1.5", "[0, 1)"),
    (["pruner.ratio=-0.1"], "pruner.ratio=-0.1", "[0, 1)"),
    (["pruner.sparsity=1.0"], "pruner.sparsity=1.0", "[0, 1)"),
    (["pruner.stage_ratios=[0.5,1.2,0.3]"], "pruner.stage_ratios=[0.5, 1.2, 0.3]", "each value"),
    (["pruner.skip_layers=[0]"], "pruner.skip_layers=[0]", "[1, inf)"),
    (["pruner.rounds=0"], "pruner.rounds=0", "[1, inf)"),
    (["pruner.taylor_batches=0"], "pruner.taylor_batches=0", "[1, inf)"),
    (["pruner.round_to=0"], "pruner.round_to=0", "[1, inf)"),
    (["pruner.target_reduction=1.0"], "pruner.target_reduction=1.0", "(0, 1)"),
    (["pruner.target_metric=latency"], "pruner.target_metric='latency'", "params, flops"),
    (["recipe.milestones=[80,200]"], "recipe.milestones=[80, 200]", "(0, recipe.epochs=160)"),
    (["recipe.milestones=[120,80]"], "recipe.milestones=[120, 80]", "strictly increasing"),
    (["recipe.gamma=0"], "recipe.gamma=0.0", "(0, 1]"),
    (["recipe.gamma=1.5"], "recipe.gamma=1.5", "(0, 1]"),
    (["recipe.momentum=1.0"], "recipe.momentum=1.0", "[0, 1)"),
    (["recipe.lr=0"], "recipe.lr=0.0", "(0, inf)"),
    (["recipe.weight_decay=-1e-4"], "recipe.weight_decay=-0.0001", "[0, inf)"),
    (["recipe.batch_size=0"], "recipe.batch_size=0", "[1, inf)"),
    (["recipe.lr=nan"], "recipe.lr=nan", "(0, inf)"),
    ([CLR, "schedule.pct_start=1.0"], "schedule.pct_start=1.0", "(0, 1)"),
    ([CLR, "schedule.anneal=step"], "schedule.anneal='step'", "cos, linear"),
    ([CLR, "schedule.max_lr_rule=auto"], "schedule.max_lr_rule='auto'", "recipe, lrw, value"),
    ([CLR, "schedule.div_factor=0"], "schedule.div_factor=0.0", "(0, inf)"),
    ([CLR, "schedule.max_momentum=0.8"], "schedule.max_momentum=0.8", "[schedule.base_momentum=0.85, 1)"),
    ([CLR, "schedule.base_momentum=1.0"], "schedule.base_momentum=1.0", "[0, 1)"),
    ([SLR, "schedule.warmup_fraction=1.0"], "schedule.warmup_fraction=1.0", "[0, 1)"),
    ([SLR, "schedule.drop_fractions=[0.6,0.3]"], "schedule.drop_fractions=[0.6, 0.3]", "strictly increasing"),
    ([SLR, "schedule.drop_fractions=[0.5,1.5]"], "schedule.drop_fractions=[0.5, 1.5]", "(0, 1)"),
    (["schedule=ft", "schedule.lr=-0.01"], "schedule.lr=-0.01", "(0, inf)"),
    ([STEP, "schedule.milestones=[5,50]", "budget.epochs=40"], "schedule.milestones=[5, 50]", "(0, T=40)"),
    ([STEP, "schedule.milestone_fractions=[0.5,1.0]"], "schedule.milestone_fractions=[0.5, 1.0]", "(0, 1)"),
    ([STEP, "schedule.gamma=2"], "schedule.gamma=2.0", "(0, 1]"),
    ([SYN, "dataset.val_size=5000"], "dataset.val_size=5000", "[0, data.train_images=5000)"),
    ([SYN, "dataset.val_size=500", "dataset.train_subset=4600"], "dataset.train_subset=4600",
     "[1, data.train_after_val=4500]"),
    (["dataset.val_size=50000"], "dataset.val_size=50000", "[0, data.train_images=50000)"),  # CIFAR-10
    ([SYN, "dataset.noise=-1"], "dataset.noise=-1.0", "[0, inf)"),
    ([SYN, "dataset.distractor=1.5"], "dataset.distractor=1.5", "[0, 1]"),
    ([SYN, "dataset.train_size=0"], "dataset.train_size=0", "[1, inf)"),
    (["dataset.num_classes=1"], "dataset.num_classes=1", "[2, inf)"),
    (["model.width=0"], "model.width=0.0", "(0, inf)"),
    (["seed.retrain=-1"], "seed.retrain=-1", "[0, "),
    (["plan.format=xml"], "plan.format='xml'", "text, json"),
    (["mode=train"], "mode='train'", "run, plan"),
    (["progress=fancy"], "progress='fancy'", "auto, bar, log, off"),
    (["precision=fp16"], "precision='fp16'", "auto, fp32, bf16"),
    (["wandb.mode=cloud"], "wandb.mode='cloud'", "auto, online, offline, disabled"),
    (["wandb.init_timeout=0"], "wandb.init_timeout=0.0", "(0, inf)"),
    (["latency.batch=0"], "latency.batch=0", "[1, inf)"),
    (["latency.repeats=-1"], "latency.repeats=-1", "[0, inf)"),
    (["compile_min_steps=-2"], "compile_min_steps=-2", "[-1, inf)"),
    (["budget=fraction", "budget.fraction=-0.5"], "budget.fraction=-0.5", "> 0"),
]


@pytest.mark.parametrize("overrides,key,allowed", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_a_bad_value_is_one_line_naming_key_value_and_domain(overrides, key, allowed):
    with pytest.raises(ConfigError) as error:
        validate(compose_config(overrides))
    message = str(error.value)
    assert "\n" not in message and message.startswith(key) and allowed in message, message


GOOD = [[f"+experiment={p.stem}"] for p in sorted((CONF / "experiment").glob("*.yaml"))]
GOOD += [[f"schedule={p.stem}"] for p in sorted((CONF / "schedule").glob("*.yaml")) if p.stem not in ("he2019",)]
GOOD += [["schedule=he2019", "budget.epochs=90"], ["pruner.ratio=0"], ["recipe.milestones=[]"],
         [SYN, "dataset.val_size=500", "dataset.train_subset=4500"], ["seed.retrain=4294967296"]]


def _swept_budgets(overrides: list) -> list:
    """The budgets a preset's sweep lists (``budget.epochs: 40,56,...``), as budget groups."""
    if not overrides[0].startswith("+experiment="):
        return []
    preset = OmegaConf.load(CONF / "experiment" / f"{overrides[0].split('=')[1]}.yaml")
    params = OmegaConf.select(preset, "hydra.sweeper.params") or {}
    return [BudgetConf(**{key.split(".")[1]: float(value) if key.endswith("fraction") else int(value)})
            for key in ("budget.epochs", "budget.fraction") if key in params for value in str(params[key]).split(",")]


@pytest.mark.parametrize("overrides", GOOD, ids=str)
def test_every_preset_and_edge_value_passes_at_every_budget_it_sweeps(overrides):
    """The checks return T in epochs: the composed budget's, and that of each budget the preset
    sweeps, with the recipe and schedule the preset composes (T <= E where the schedule rewinds)."""
    cfg = compose_config(overrides)
    for budget in [cfg.budget, *_swept_budgets(overrides)]:
        epochs = budget.epochs if budget.epochs is not None else round(budget.fraction * cfg.recipe.epochs)
        assert validate(dataclasses.replace(cfg, budget=budget)) == epochs, budget


def test_every_domain_lives_on_a_schema_field_and_the_walk_finds_them():
    """The battery above is not the only guard: every domain of the typed config is visited."""
    cfg = compose_config([CLR])
    keys = {key for key, _, _ in validation.fields_with_domains(validation._typed(cfg))}
    assert {"pruner.ratio", "recipe.milestones", "schedule.pct_start", "plan.format", "dataset.val_size",
            "seed.baseline", "wandb.mode", "progress"} <= keys
    assert "dataset.name" not in keys and len(keys) >= 30
    assert BenchmarkConf.__dataclass_fields__["mode"].metadata["domain"].choices == ("run", "plan")


@pytest.mark.subprocess
def test_the_entry_point_prints_the_one_line_and_exits_2_before_training(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmark" / "run.py"), "pruner.ratio=1.5",
                           f"paths.cache={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'out'}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: pruner.ratio=1.5 is outside its domain: must lie in [0, 1)"
    assert not (tmp_path / "cache").exists()


def test_one_phase_runs_every_check_in_its_listed_order_and_a_new_one_is_one_line(monkeypatch):
    """The phase a cell's config passes through is `validation.validate` (also `cell.validate`):
    the budget, then CHECKS in order; a group's check appended there runs with (cfg, T)."""
    from benchmark import cell

    assert cell.validate is validation.validate
    assert [name for name, _ in validation.CHECKS] == ["pairing", "task leaves", "domains", "tracking", "not run",
                                                       "schedule", "task"]
    seen = []
    monkeypatch.setattr(validation, "CHECKS", tuple((name, lambda cfg, T, name=name: seen.append((name, T)))
                                                    for name, _ in validation.CHECKS) + (("new", _refuse),))
    with pytest.raises(ConfigError, match="^new group: no$"):
        validation.validate(compose_config(["budget.epochs=7"]))
    assert seen == [(name, 7) for name, _ in validation.CHECKS[:-1]]


def _refuse(cfg, epochs):
    raise ConfigError("new group: no")


@pytest.mark.parametrize("overrides,check", [(["pruner.ratio=1.5"], "domains"), (["dataset=imagenet"], "pairing"),
                                             (["schedule=lrw", "budget.epochs=200"], "schedule"),
                                             (["bn_recalibration=2.0"], "domains"), (["rewind_epochs=[500]", "schedule=wr"], "task"),
                                             (["model=causal_lm"], "pairing"), (["dataset=text", "model=causal_lm",
                                              "recipe=lm", "pruner=wanda", "schedule=wr"], "not run")])
def test_each_bad_input_is_caught_by_the_check_named_for_it(overrides, check):
    cfg = compose_config(overrides)
    epochs = validation.schedules.retrain_epochs(cfg.budget, cfg.recipe)
    names = [name for name, _ in validation.CHECKS]
    for name, run_check in validation.CHECKS[: names.index(check)]:
        run_check(cfg, epochs)  # every earlier check passes
    with pytest.raises(ConfigError):
        dict(validation.CHECKS)[check](cfg, epochs)
