"""The grid sweeper (Hydra's basic sweeper with ``exclude`` and ``attach``), its one-line refusals
of rules that can never match, and the findings preset's grid."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from benchmark.errors import ConfigError
from hydra_plugins.benchmark_launchers.grid_sweeper import attached, attachments, cells, excluded, exclusions

REPO = Path(__file__).resolve().parent.parent


def plan(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "benchmark" / "run.py"), "-m", *args, "mode=plan",
                           "plan.format=json", f"hydra.sweep.dir={cwd / 'sweep'}"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("job, expected", [
    (["pruner.name=random", "schedule=lrw", "seed.retrain=0"], True),
    (["pruner.name=random", "schedule=clr", "seed.retrain=0"], False),
    (["pruner.name=l1", "schedule=lrw"], False),
    (["+pruner.name=random", "schedule=slr"], True),  # an appended key is the same key
])
def test_a_cell_is_excluded_only_when_every_key_of_a_rule_matches(job, expected):
    rules = [{"pruner.name": "random", "schedule": "lrw"}, {"pruner.name": "random", "schedule": "slr"}]
    assert excluded(job, rules) is expected


def test_an_attachment_adds_its_keys_to_the_matching_cells_only():
    rules = [{"when": {"pruner": "agp"}, "set": {"pruner.frequency": 20}}]
    assert attached(["pruner=agp", "schedule=ft"], rules) == ["pruner=agp", "schedule=ft", "pruner.frequency=20"]
    assert attached(["pruner=mwp", "schedule=ft"], rules) == ["pruner=mwp", "schedule=ft"]


@pytest.mark.sweep
@pytest.mark.subprocess
def test_gradual_vs_oneshot_small_sets_agp_frequency_and_shares_baselines_with_findings_small(tmp_path):
    out = plan("+experiment=gradual_vs_oneshot_small", "seed.retrain=0", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    cells = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert sorted(c["name"].split("-")[2] for c in cells) == ["agp"] * 4 + ["mwp"] * 4
    launched = [line for line in out.stderr.splitlines() + out.stdout.splitlines() if " : pruner=" in line]
    assert len(launched) == 8
    assert all(("pruner.frequency=20" in line) == ("pruner=agp" in line) for line in launched), launched
    (tmp_path / "f").mkdir()
    findings = plan("+experiment=findings_small", "seed.retrain=0", "pruner.name=mwp", "schedule=ft",
                    "budget.epochs=6", cwd=tmp_path / "f")
    (reference,) = [json.loads(line) for line in findings.stdout.splitlines() if line.startswith("{")]
    assert {c["identity"]["baseline"] for c in cells} == {reference["identity"]["baseline"]}


@pytest.mark.sweep
@pytest.mark.subprocess
def test_findings_small_plans_claims_1_to_3_and_nothing_else(tmp_path):
    out = plan("+experiment=findings_small", "seed.retrain=0,1", cwd=tmp_path)  # 2 of its 3 seeds
    assert out.returncode == 0, out.stderr
    cells = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    names = Counter(tuple(c["name"].split("-")[2:5]) for c in cells)  # (pruner, schedule, T) over seeds
    expected = {(p, s, t) for p in ("l1", "mwp") for s in ("ft", "lrw", "slr", "clr") for t in ("T3", "T6")}
    expected |= {("random", s, t) for s in ("ft", "clr") for t in ("T3", "T6")}
    assert set(names) == expected and set(names.values()) == {2}, "every cell of the three claims, for each seed"
    assert "sweep plan: cells 40," in out.stdout
    # claim 2 compares criteria at one architecture: random keeps exactly L1's parameter count
    params = {(c["name"].split("-")[2], c["name"][-2:]): c["params_after"] for c in cells}
    for seed in ("s0", "s1"):
        assert params[("random", seed)] == params[("l1", seed)] < cells[0]["params_before"]
    # linked seeds: every cell of run r starts from run r's baseline, whatever its pruner
    baselines = {c["identity"]["baseline"] for c in cells if c["name"].endswith("s1")}
    assert len(baselines) == 1


# --- bad rules: one line each, naming the entry ----------------------------------------------------

GRID = [list(cell) for cell in itertools.product(["pruner.name=l1", "pruner.name=random"],
                                                 ["schedule=ft", "schedule=lrw"], ["seed.retrain=0"])]


def _refusal(exclude=(), attach=(), declared=None) -> str:
    with pytest.raises(ConfigError) as error:
        cells(GRID, exclusions(list(exclude)), attachments(list(attach)), declared)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_a_rule_on_a_key_the_sweep_does_not_have_names_the_key_the_entry_and_the_keys():
    assert _refusal(exclude=[{"prunr.name": "random"}]) == (
        "hydra.sweeper.exclude: prunr.name is not a key of this sweep (entry {prunr.name: random}); "
        "its keys: pruner.name, schedule, seed.retrain")
    assert _refusal(attach=[{"when": {"pruner": "agp"}, "set": {"pruner.frequency": 2}}]).startswith(
        "hydra.sweeper.attach: pruner is not a key of this sweep (entry {pruner: agp})")


def test_a_value_the_sweep_never_takes_is_refused_unless_the_preset_lists_it():
    """A typo would otherwise train the cells it meant to drop; a value the command line
    narrowed away (`+experiment=findings_small pruner.name=l1`) is no typo."""
    assert _refusal(exclude=[{"pruner.name": "randm", "schedule": "lrw"}]) == (
        "hydra.sweeper.exclude: pruner.name=randm is not a value of this sweep "
        "(entry {pruner.name: randm, schedule: lrw}); pruner.name takes: l1, random")
    assert "schedule=slr is not a value" in _refusal(attach=[{"when": {"schedule": "slr"}, "set": {"a": 1}}])
    narrowed = cells(GRID, exclusions([{"pruner.name": "mwp"}]), [], {"pruner.name": ["l1", "mwp", "random"]})
    assert narrowed == GRID


def test_an_exclusion_of_every_cell_is_refused():
    assert _refusal(exclude=[{"seed.retrain": 0}]) == (
        "hydra.sweeper.exclude removes every cell of the sweep (all 4): {seed.retrain: 0}")


@pytest.mark.parametrize("entry, message", [
    ("random", "hydra.sweeper.exclude: entry random is not a partial assignment; write {key: value, ...}"),
    ({}, "hydra.sweeper.exclude: entry {} is not a partial assignment"),
    ({"schedule": ["lrw", "slr"]}, "hydra.sweeper.exclude: entry {schedule: [lrw, slr]} gives schedule the value [lrw, slr]"),
])
def test_a_malformed_exclusion_names_the_entry(entry, message):
    assert _refusal(exclude=[entry]).startswith(message)


@pytest.mark.parametrize("entry, message", [
    ({"when": {"pruner.name": "l1"}}, "hydra.sweeper.attach: each entry is {when: {key: value}, set: {key: value}}, "
                                      "not {when: {pruner.name: l1}}"),
    ("pruner.frequency=20", "hydra.sweeper.attach: each entry is {when:"),
    ({"when": "l1", "set": {"a": 1}}, "hydra.sweeper.attach (when): entry {when: l1, set: {a: 1}} is not a partial"),
    ({"when": {"pruner.name": "l1"}, "set": {"a": [1, 2]}}, "hydra.sweeper.attach (set): entry {when: {pruner.name: l1}, "
                                                            "set: {a: [1, 2]}} gives a the value [1, 2]"),
])
def test_a_malformed_attachment_names_the_entry(entry, message):
    assert _refusal(attach=[entry]).startswith(message)


def test_yaml_scalars_match_the_overrides_as_hydra_spells_them():
    jobs = [["fast=true", "budget.fraction=0.5", "x=null"], ["fast=false", "budget.fraction=0.5", "x=null"]]
    assert cells(jobs, exclusions([{"fast": True, "budget.fraction": 0.5, "x": None}]), []) == [jobs[1]]


@pytest.mark.sweep
@pytest.mark.subprocess
@pytest.mark.parametrize("rule, message", [
    ("+hydra.sweeper.exclude=[{prunr.name: random}]", "error: hydra.sweeper.exclude: prunr.name is not a key of this sweep"),
    ("+hydra.sweeper.exclude=[{pruner.name: randm, schedule: lrw}]", "error: hydra.sweeper.exclude: pruner.name=randm is "
                                                                     "not a value of this sweep"),
    ("+hydra.sweeper.attach=[{when: {pruner: agp}, set: {pruner.frequency: 2}}]",
     "error: hydra.sweeper.attach: pruner is not a key of this sweep"),
])
def test_a_bad_rule_reaches_the_user_as_one_line_and_exit_status_2(tmp_path, rule, message):
    out = plan("+experiment=findings_small", rule, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip().startswith(message), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Launching" not in out.stdout + out.stderr, "refused before any cell is launched"


@pytest.mark.parametrize("pruner", ["l1", "mwp", "random"])
def test_every_pruner_of_findings_full_passes_the_checks_at_resnet56_b(pruner):
    from benchmark.validation import validate
    from tests.conftest import compose_config
    from benchmark.pruning.spec import resolve

    cfg = compose_config(["+experiment=findings_full", f"pruner.name={pruner}", "schedule=clr", "budget.epochs=40"])
    assert validate(cfg) == 40
    if pruner != "mwp":  # the filter pruners take exactly the paper's ResNet-56-B plan
        spec = resolve(cfg.pruner, cfg.model.name)
        b = resolve(compose_config(["pruner=l1", "pruner.variant=B"]).pruner, "resnet56")
        assert (spec.stage_ratios, spec.skip_layers) == (b.stage_ratios, b.skip_layers)
