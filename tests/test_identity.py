"""Identity by rule: every config leaf is hashed into a stage or excluded with a reason, the
precision is hashed, and the hashed payload lies beside each artefact."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from benchmark.cell import run_cell
from benchmark.identity import EXCLUDED, HASHED, digest, leaves, unclassified
from benchmark.tasks import cell_identity
from tests.conftest import CONF, compose_config

GROUPS = ("dataset", "model", "recipe", "pruner", "schedule", "budget")
# What presets leave for the user to fill in (a user's constructor, callable or file).
REQUIRED = {"model=custom": ["model._target_=torchvision.models.resnet18"], "pruner=custom": ["pruner.function=m:f"],
            "pruner=checkpoint": ["pruner.path=pruned.pt"]}
PRESETS = [[f"{group}={p.stem}", *REQUIRED.get(f"{group}={p.stem}", [])]
           for group in GROUPS for p in sorted((CONF / group).glob("*.yaml"))]
PRESETS += [[f"+experiment={p.stem}"] for p in sorted((CONF / "experiment").glob("*.yaml"))]


@pytest.mark.parametrize("overrides", PRESETS, ids=lambda o: o[0])
def test_every_leaf_of_every_preset_is_hashed_or_excluded(overrides):
    assert unclassified(compose_config(overrides)) == []


def test_a_new_key_in_neither_list_is_caught():
    cfg = OmegaConf.create(dataclasses.asdict(compose_config([])))  # untyped: open to new keys
    cfg.new_knob = 3
    cfg.latency.new_field = 1  # inside an excluded section: excluded with it
    cfg.model.new_field = 1  # inside a hashed section: hashed with it
    assert unclassified(cfg) == ["new_knob"]


def test_every_exclusion_has_a_reason_and_names_a_real_key():
    variants = [[], ["dataset=imagenet"], ["pruner=checkpoint", "pruner.path=pruned.pt"], ["+experiment=demo_lm"]]
    keys = {k for overrides in variants for k, _ in leaves(compose_config(overrides))}
    for key, reason in EXCLUDED.items():
        assert len(reason) >= 10, key
        assert any(k == key or k.startswith(key + ".") for k in keys), f"{key} is not a config key"
    assert set(HASHED.values()) == {"baseline", "pruned", "cell"}


def _perturbed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return value + [value[-1] if value else 1]
    return 1  # None


STAGES = ("baseline", "pruned", "cell")
FILES = ("model.weights", "pruner.path", "pruner.widths_from")  # their SHA-256 enters: tests/test_byom.py


@pytest.mark.parametrize("overrides", [[], ["dataset=imagenet", "model=resnet50"], ["schedule=slr"]], ids=str)
def test_each_leaf_changes_exactly_its_stage_and_those_after_it(overrides):
    """Changing a hashed leaf changes its stage's id and every later one, never an earlier one;
    changing an excluded leaf changes none."""
    plain = dataclasses.asdict(compose_config(overrides))
    base = cell_identity(OmegaConf.create(plain), 40).as_dict()
    for key, value in leaves(plain):
        changed = OmegaConf.create(plain)
        OmegaConf.update(changed, key, _perturbed(value), merge=False)
        if key in ("device", "fast", "precision") or key in FILES:  # enter as the precision (tests/test_precision.py), as file content: tested apart
            continue
        got = cell_identity(changed, 40).as_dict()
        stage = next((HASHED[k] for k in HASHED if key == k or key.startswith(k + ".")), None)
        excluded = any(key == k or key.startswith(k + ".") for k in EXCLUDED)
        if excluded or stage is None:
            assert got == base, key
        else:
            first = STAGES.index(stage)
            assert [got[s] != base[s] for s in STAGES] == [i >= first for i in range(3)], key


def test_precision_is_hashed_and_rounding_only_settings_are_not():
    fp32 = cell_identity(compose_config(["device=cpu", "precision=fp32"]), 40)  # auto is bf16 on a CPU with native bf16
    bf16 = cell_identity(compose_config(["device=cuda", "fast=true"]), 40)  # an explicit device needs no GPU here
    cuda_fp32 = cell_identity(compose_config(["device=cuda", "fast=false"]), 40)
    assert bf16.baseline != fp32.baseline and bf16.cell != fp32.cell, "a bf16 baseline is never reused by fp32"
    assert bf16.payloads["baseline"]["precision"] == "bf16" and cuda_fp32 == fp32
    rounding = cell_identity(compose_config(["device=cpu", "fast=false", "deterministic=false", "compile_min_steps=1"]), 40)
    assert rounding == fp32


def test_budget_spellings_name_one_cell():
    assert cell_identity(compose_config(["budget=fraction", "budget.fraction=0.25"]), 40) == cell_identity(compose_config([]), 40)


@pytest.mark.cell
def test_the_hashed_payload_lies_beside_each_artefact(tiny_cfg, tmp_path):
    record = run_cell(tiny_cfg("schedule=clr"), tmp_path / "out").as_dict()
    cache = tmp_path / "cache"
    folders = {"baseline": cache / "baselines", "pruned": cache / "pruned", "cell": cache / "cells"}
    for stage, folder in folders.items():
        ident = record["identity"][stage]
        saved = json.loads((folder / ident / "identity.json").read_text())
        assert saved["identity"] == ident and ident.endswith("-" + digest(saved["hashed"]))
        assert "device" in saved["excluded"]
    cell_payload = json.loads((folders["cell"] / record["identity"]["cell"] / "identity.json").read_text())["hashed"]
    assert cell_payload["pruned"] == record["identity"]["pruned"] and cell_payload["schedule"]["name"] == "clr"
    baseline_payload = json.loads((folders["baseline"] / record["identity"]["baseline"] / "identity.json").read_text())["hashed"]
    # the precision the record names is the one its baseline was hashed with (bf16 on a CPU with
    # native bf16, fp32 elsewhere: tests/test_precision.py)
    assert record["environment"]["precision"] == baseline_payload["precision"] in ("fp32", "bf16")
    assert Path(folders["baseline"] / record["identity"]["baseline"] / "model.pt").exists()
