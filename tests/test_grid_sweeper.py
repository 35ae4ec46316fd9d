"""The grid sweeper (Hydra's basic sweeper with ``exclude``) and the findings preset's grid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from hydra_plugins.benchmark_launchers.grid_sweeper import attached, excluded

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


def test_an_exclusion_on_a_key_the_sweep_does_not_have_fails_in_one_line(tmp_path):
    out = plan("+experiment=findings_small", "+hydra.sweeper.exclude=[{prunr.name: random}]", cwd=tmp_path)
    assert out.returncode != 0
    assert "hydra.sweeper.exclude: prunr.name is not a key of this sweep" in out.stderr


def test_an_attachment_without_when_and_set_or_on_an_unswept_key_fails_in_one_line(tmp_path):
    out = plan("+experiment=findings_small", "+hydra.sweeper.attach=[{when: {pruner.name: l1}}]", cwd=tmp_path)
    assert out.returncode != 0 and "hydra.sweeper.attach: each entry is {when:" in out.stderr
    out = plan("+experiment=findings_small", "+hydra.sweeper.attach=[{when: {pruner: agp}, set: {pruner.frequency: 2}}]",
               cwd=tmp_path)
    assert out.returncode != 0 and "hydra.sweeper.attach: pruner is not a key of this sweep" in out.stderr


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
