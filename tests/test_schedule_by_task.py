"""Every schedule, on every task, either runs with its full meaning or is refused in one line
before any training (issue 28): never recorded under its name but run as another.

The schedules are the files of ``conf/schedule/`` (listed here, so a new one is covered the day it
is added) plus ``schedule=lrw schedule.source=recorded``. Each runs on a tiny image cell and a tiny
language-model cell, on the one engine. An image cell must run every one; the language-model cell
must refuse exactly those whose meaning ``benchmark.preparation`` cannot settle for it (weight
rewinding and Scratch rebuild an image architecture), and run the rest, ALLR included. What the
test observes of a finished cell is the learning rate each retraining iteration set on the
optimizer (``optimizers.set_rates``, wrapped), against ``schedules.lr_momentum`` for the schedule
as it should have run, and the record's ``retraining`` entries, against the papers' definitions
computed here (ALLR's clip, WR's epoch E - T, Scratch's epochs). And the cross-check that keeps
the lists honest: a record carries something preparation decided exactly when its schedule is one
preparation settles.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from pathlib import Path
from typing import List, Tuple

import pytest

from benchmark import preparation
from benchmark.errors import ConfigError
from benchmark.retraining import optimizers, schedules
from benchmark.validation import validate
from tests.conftest import CONF, TINY, TINY_DATA, compose_config

for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_key] = "1"

# Every schedule option, plus LRW replaying the baseline's recorded rates.
CASES: List[Tuple[str, ...]] = [(p.stem,) for p in sorted((CONF / "schedule").glob("*.yaml"))] + \
    [("lrw", "schedule.source=recorded")]
LABELS = [" ".join(case) for case in CASES]

# The schedules benchmark.preparation settles (written here, from the papers, not read from the code
# under test), and of those what the language-model cell refuses: the ones that rebuild an image
# architecture from its pruning history (WR's rewound weights, Scratch's fresh ones). ALLR's rate and
# LRW's recorded rates are settled for both tasks. Everything else must run there too.
PREPARED = {"allr", "wr", "scratch_e", "scratch_b", "lrw schedule.source=recorded"}
LM_REFUSED = {"wr", "scratch_e", "scratch_b"}

# E = 3, T = 2 on both tasks: LRW and WR rewind to epoch 1, step schedules get a milestone inside T.
E, T = 3, 2
IMAGE = [*TINY_DATA, *TINY, f"recipe.epochs={E}", "recipe.milestones=[2]", f"budget.epochs={T}",
         "rewind_epochs=[1]"]  # WR's epoch E - T kept by whichever case trains the shared baseline


def _lm() -> List[str]:
    pytest.importorskip("transformers")
    from tests.test_lm import TINY_LM

    return [o for o in TINY_LM if not o.startswith(("recipe.epochs", "budget.epochs"))] + \
        [f"recipe.epochs={E}", f"budget.epochs={T}"]


def _config(task: str, case: Tuple[str, ...], cache: Path):
    base = IMAGE if task == "image" else _lm()
    overrides = [*base, f"schedule={case[0]}", *case[1:], f"paths.cache={cache}"]
    cfg = compose_config(overrides)
    milestones = getattr(cfg.schedule, "milestones", None)
    if milestones and any(m >= T for m in milestones):  # a published step schedule's epochs (30, ...) inside T
        cfg = compose_config([*overrides, "schedule.milestones=[1]"])
    return cfg


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> dict:
    """One cache per task for the whole module: every schedule shares one baseline and pruned model."""
    root = tmp_path_factory.mktemp("schedule_by_task")
    return {"image": root / "image", "lm": root / "lm"}


# --- the table, before any training -------------------------------------------------------------------

def test_the_cases_are_every_schedule_option():
    names = {case[0] for case in CASES}
    assert {"ft", "lrw", "slr", "clr", "llr", "allr", "wr", "scratch_e", "scratch_b"} <= names
    for name in names:  # each option selects a schedule the registry defines
        assert compose_config([f"schedule={name}"]).schedule.name in schedules.SCHEDULES, name


@pytest.mark.parametrize("label", LABELS)
def test_validation_runs_every_schedule_on_images_and_refuses_on_language_models_only_what_it_must(label, tmp_path):
    case = tuple(label.split(" "))
    assert validate(_config("image", case, tmp_path)) == T
    cfg = _config("lm", case, tmp_path)
    if label not in LM_REFUSED:
        assert validate(cfg) == T
        return
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(" ".join([f"schedule={case[0]}", *case[1:]]) + " is refused for language models: "), message
    assert "benchmark.preparation" in message, message  # and says why


@pytest.mark.parametrize("label", sorted(LM_REFUSED))
def test_a_refused_language_model_schedule_stops_before_anything_trains(label, tmp_path):
    from benchmark.cell import run_cell
    from benchmark.plan import plan_cell

    cfg = _config("lm", tuple(label.split(" ")), tmp_path / "cache")
    with pytest.raises(ConfigError, match=r"is refused for language models"):
        run_cell(cfg, tmp_path / "out")
    with pytest.raises(ConfigError, match=r"is refused for language models"):
        plan_cell(cfg)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("overrides,named", [(["rewind_epochs=[1]"], "rewind_epochs=[1]"),
                                             (["pruner.rounds=2"], "pruner.rounds=2"),
                                             (["bn_recalibration=0.1"], "bn_recalibration=0.1"),
                                             (["distill=kd"], "distill=kd")])
def test_language_model_cells_refuse_what_preparation_or_rounds_would_do_in_one_line(overrides, named, tmp_path):
    cfg = compose_config([*_lm(), "schedule=lrw", *overrides, f"paths.cache={tmp_path}"])
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert str(info.value).startswith(f"{named} is refused for language models") and "\n" not in str(info.value)
    assert validate(compose_config([*_lm(), "schedule=lrw"])) == T  # the control: without it, the cell runs


# --- whole cells: the schedule's meaning, observed --------------------------------------------------


@pytest.mark.cell
@pytest.mark.parametrize("task", ["image", "lm"])
@pytest.mark.parametrize("label", LABELS)
def test_every_schedule_runs_with_its_meaning_or_is_refused_before_training(label, task, caches, monkeypatch, tmp_path):
    from benchmark.cell import run_cell

    case = tuple(label.split(" "))
    cfg = _config(task, case, caches[task])
    if task == "lm" and label in LM_REFUSED:
        with pytest.raises(ConfigError, match=r"^\S.* is refused for language models: [^\n]*$"):
            run_cell(_config(task, case, tmp_path / "cache"), tmp_path / "out")
        assert not (tmp_path / "cache").exists()
        return

    rates: List[float] = []
    set_rates = optimizers.set_rates

    def observed(optimizer, lr, momentum):
        set_rates(optimizer, lr, momentum)
        rates.append(optimizer.param_groups[0]["lr"])

    monkeypatch.setattr(optimizers, "set_rates", observed)
    record = run_cell(cfg, tmp_path / "out")
    if not rates:  # an earlier case was this very cell (hrank_imagenet and lin2019_imagenet are one schedule): retrain it
        shutil.rmtree(caches[task] / "cells" / record.identity["cell"])
        record = run_cell(cfg, tmp_path / "again")
    assert record.status == "finished", record.status
    steps, recipe, schedule = record.steps_per_epoch, cfg.recipe, cfg.schedule
    epochs = T
    # A schedule depends on preparation exactly when its record carries what preparation decided.
    assert bool(set(record.retraining) & set(preparation.RECORDED)) == (label in PREPARED), record.retraining
    name = schedule.name
    if name == "allr":
        allr = record.retraining["allr"]
        d, s, max_lr = allr["norm_drop"], allr["pruned_fraction"], recipe.lr  # both recipes peak at recipe.lr
        assert 0 < d < 1 and 0 < s < 1
        if task == "image":  # s: the fraction of weights removed, which structured pruning makes the parameters it removed
            assert s == pytest.approx(1 - record.model["params_after"] / record.model["params_before"], rel=1e-3)
        else:  # Wanda masks half of every block linear's weights; embeddings, norms and the head stay
            assert s < 0.5 and s == pytest.approx(1 - record.model["params_after"] / record.model["params_before"], rel=0.05)
        assert allr["lr"] == pytest.approx(min(max(d / math.sqrt(s) * max_lr, min(T / E, 1) * max_lr), max_lr))
        schedule = dataclasses.replace(schedule, peak_lr=allr["lr"])
    if task == "image" and name == "wr":
        assert record.retraining["rewound_to_epoch"] == E - T
    if task == "image" and name in ("scratch_e", "scratch_b"):
        budget = record.retraining["budget"]
        ratio = record.model["flops_before"] / record.model["flops_after"]
        assert ratio > 1.2  # pruning removed compute, so Scratch-B trains longer than Scratch-E
        assert budget["epochs_trained"] == (E if name == "scratch_e" else round(E * ratio)) and not budget["is_budget_T"]
        epochs = budget["epochs_trained"]
    if label == "lrw schedule.source=recorded":
        assert record.retraining["lrw_source"] == "recorded"
        schedule = dataclasses.replace(schedule, source="recipe")  # a recipe's recorded tail is its own rates
    assert len(record.history) == epochs
    ran = rates[len(rates) - epochs * steps:]
    assert len(rates) >= epochs * steps
    expected = [schedules.lr_momentum(i, steps, epochs, schedule, recipe)[0] for i in range(epochs * steps)]
    assert ran == pytest.approx(expected, rel=1e-9, abs=1e-12), (label, task)
