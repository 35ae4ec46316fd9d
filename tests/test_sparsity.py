"""Layer-wise allocation, gradual pruning (AGP) and N:M sparsity, against hand computations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark import pruning
from benchmark.cell import run_cell
from benchmark.errors import ConfigError
from benchmark.plan import plan_cell
from benchmark.pruning import PruningSpec
from benchmark.pruning.allocation import lamp_scores
from benchmark.pruning.gradual import sparsity_at, update_steps
from benchmark.pruning.nm import nm_mask
from tests.conftest import REPO, TINY_DATA, compose_config


class Three(nn.Module):
    """Three convs of 8, 8 and 16 weights: conv1 (2, 1, 2, 2), conv2 (4, 2, 1, 1), conv3 (4, 4, 1, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3 = nn.Conv2d(1, 2, 2, bias=False), nn.Conv2d(2, 4, 1), nn.Conv2d(4, 4, 1)
        with torch.no_grad():
            for i, conv in enumerate((self.conv1, self.conv2, self.conv3)):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=torch.Generator().manual_seed(i)))


def kept(model: nn.Module) -> dict:
    return {name: int(m.weight_mask.sum()) for name, m in model.named_modules() if hasattr(m, "weight_mask")}


def test_uniform_keeps_the_first_conv_dense_and_one_fraction_elsewhere():
    # 32 weights at 50%: keep 16; conv1 keeps its 8; conv2 and conv3 share 8 of 24 (1/3 each):
    # 8/3 and 16/3 -> 2 and 5 by floor, the one left over to the larger fraction (conv2, 0.67).
    model = Three()
    pruning.prune(model, PruningSpec("mwp", sparsity=0.5, allocation="uniform"), seed=0)
    assert kept(model) == {"conv1": 8, "conv2": 3, "conv3": 5}
    assert pruning.layer_sparsity(model) == pytest.approx({"conv1": 0.0, "conv2": 5 / 8, "conv3": 11 / 16})


def test_erk_densities_follow_sum_over_product_of_the_dimensions():
    # Scores (sum/prod): conv1 7/8, conv2 8/8, conv3 10/16; kept = eps x score x size = 7, 8, 10 eps.
    # 50%: 25 eps = 16, eps = 0.64 -> 4.48, 5.12, 6.4 -> 4, 5, 6 plus one to conv1 (fraction 0.48).
    model = Three()
    pruning.prune(model, PruningSpec("mwp", sparsity=0.5, allocation="erk"), seed=0)
    assert kept(model) == {"conv1": 5, "conv2": 5, "conv3": 6}
    # 10%: keep 32 - 3 = 29, eps = 1.16 puts conv1 (1.015) and conv2 (1.16) past density 1: both dense,
    # and conv3 takes the remaining 13 (density 13/16).
    model = Three()
    pruning.prune(model, PruningSpec("mwp", sparsity=0.1, allocation="erk"), seed=0)
    assert kept(model) == {"conv1": 8, "conv2": 8, "conv3": 13}


class Two(nn.Module):
    def __init__(self, a, b) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(1, len(a), 1, bias=False), nn.Conv2d(1, len(b), 1, bias=False)
        with torch.no_grad():
            self.a.weight.copy_(torch.tensor(a).view(-1, 1, 1, 1))
            self.b.weight.copy_(torch.tensor(b).view(-1, 1, 1, 1))


def test_lamp_scores_by_hand():
    # squares 1, 4, 9: 1/(1+4+9), 4/(4+9), 9/9
    assert lamp_scores(torch.tensor([2.0, -1.0, 3.0])).tolist() == pytest.approx([4 / 13, 1 / 14, 1.0])


def test_lamp_and_global_differ_where_one_layer_has_smaller_weights():
    # a = [1, 2, 3], b = [0.6, 0.5]; keep 3 of 5. Global magnitude keeps 3, 2, 1: all of a, none of b
    # (the layer collapse LAMP was made to avoid).
    # LAMP scores: a 1/14, 4/13, 1; b 0.25/0.61, 1: the top three are a's 3, b's 0.6 and b's 0.5.
    lamp, magnitude = Two([1.0, 2.0, 3.0], [0.6, 0.5]), Two([1.0, 2.0, 3.0], [0.6, 0.5])
    pruning.prune(lamp, PruningSpec("mwp", sparsity=0.4, allocation="lamp"), seed=0)
    pruning.prune(magnitude, PruningSpec("mwp", sparsity=0.4), seed=0)
    assert kept(lamp) == {"a": 1, "b": 2} and kept(magnitude) == {"a": 3, "b": 0}
    assert lamp.a.weight.flatten().tolist() == [0.0, 0.0, 3.0]


@pytest.mark.parametrize("allocation", ["global", "uniform", "erk", "lamp"])
@pytest.mark.parametrize("name", ["mwp", "random_unstructured"])
def test_every_allocation_reaches_the_requested_sparsity_exactly(allocation, name):
    torch.manual_seed(0)
    from benchmark.models import build_model
    from benchmark.models.schema import ModelConf

    model = build_model(ModelConf(name="resnet20", width=0.5), 10)
    total = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))
    pruning.prune(model, PruningSpec(name, sparsity=0.9, allocation=allocation), seed=0)
    assert total - sum(kept(model).values()) == round(0.9 * total)
    layers = pruning.layer_sparsity(model)
    assert len(layers) == 19 and (layers["conv1"] == 0.0) == (allocation == "uniform")


@pytest.mark.cell
def test_the_record_states_every_layers_sparsity(tiny_cfg, tmp_path):
    record = run_cell(tiny_cfg("pruner=mwp", "pruner.allocation=erk", "pruner.sparsity=0.8", "budget.epochs=1"),
                      tmp_path / "out").as_dict()
    layers = record["model"]["layer_sparsity"]
    saved = torch.load(next((tmp_path / "cache" / "cells").glob("*/model.pt")), weights_only=True)["state_dict"]
    assert set(layers) == {k[:-len(".weight_mask")] for k in saved if k.endswith("weight_mask")} and len(layers) == 19
    for name, sparsity in layers.items():
        mask = saved[f"{name}.weight_mask"]
        assert sparsity == pytest.approx(1 - float(mask.sum()) / mask.numel())
    assert record["model"]["conv_sparsity"] == pytest.approx(0.8, abs=1e-3)


def test_the_default_mwp_keeps_its_identity():
    """allocation=global is today's MWP: the new keys at their defaults leave the pruned identity."""
    from benchmark.tasks import cell_identity

    payload = cell_identity(compose_config(["pruner=mwp", "device=cpu"]), 40).payloads["pruned"]
    assert "allocation" not in payload["pruner"] and "first_layer" not in payload["pruner"]
    assert cell_identity(compose_config(["pruner=mwp", "pruner.allocation=erk"]), 40).pruned != \
        cell_identity(compose_config(["pruner=mwp"]), 40).pruned


def test_agp_curve_by_hand():
    # s_f = 0.8, s_i = 0, t_0 = 0, n dt = 10: s_5 = 0.8 - 0.8 (1/2)^3 = 0.7; s_2 = 0.8 - 0.8 x 0.512.
    assert sparsity_at(5, 0.0, 0.8, 0, 10) == pytest.approx(0.7)
    assert sparsity_at(2, 0.0, 0.8, 0, 10) == pytest.approx(0.8 - 0.8 * 0.512)
    assert sparsity_at(0, 0.2, 0.8, 3, 10) == 0.2 and sparsity_at(12, 0.2, 0.8, 3, 10) == 0.8
    # 100 steps, start 0.1 -> t_0 = 10, end 0.5 -> 50, dt = 7: 10, 17, ..., 45, then 50.
    assert update_steps(PruningSpec("agp", start=0.1, end=0.5, frequency=7), 100) == [10, 17, 24, 31, 38, 45, 50]


@pytest.mark.cell
@pytest.mark.parametrize("schedule", ["ft", "clr"])
def test_agp_updates_step_by_step_while_retraining(tiny_cfg, tmp_path, schedule):
    # 256 images / 64 = 4 steps per epoch, T = 2: 8 steps; end 0.75 -> step 6; dt = 2: 0, 2, 4, 6.
    # s_t = 0.8 - 0.8 (1 - t/6)^3: 0, 0.8 x 19/27, 0.8 x 26/27, 0.8.
    record = run_cell(tiny_cfg("pruner=agp", "pruner.sparsity=0.8", "pruner.frequency=2", f"schedule={schedule}"),
                      tmp_path / "out").as_dict()
    updates = record["retraining"]["gradual"]["updates"]
    assert [u[0] for u in updates] == [0, 2, 4, 6]
    assert [u[1] for u in updates] == pytest.approx([0.0, 0.8 * 19 / 27, 0.8 * 26 / 27, 0.8])
    for _, target, achieved in updates:
        assert achieved == pytest.approx(target, abs=1e-3)
    assert [row["sparsity"] for row in record["history"]] == pytest.approx([0.8 * 19 / 27, 0.8], abs=1e-3)
    assert record["model"]["conv_sparsity"] == pytest.approx(0.8, abs=1e-3)
    assert record["model"]["params_after"] < record["model"]["params_before"]


def test_nm_mask_by_hand():
    # Linear row [1, -5, 3, 2, 9] at 2:4: the group [1, -5, 3, 2] keeps -5 and 3; 9 is the remainder, dense.
    assert nm_mask(torch.tensor([[1.0, -5.0, 3.0, 2.0, 9.0]]), 2, 4).tolist() == [[0.0, 1.0, 1.0, 0.0, 1.0]]
    # Conv (1 out, 4 in, 1 x 2): groups run along the input channels at each kernel position.
    weight = torch.tensor([[[[1.0, 8.0]], [[4.0, 7.0]], [[3.0, 6.0]], [[2.0, 5.0]]]])
    mask = nm_mask(weight, 1, 4)
    assert mask[0, :, 0, 0].tolist() == [0.0, 1.0, 0.0, 0.0] and mask[0, :, 0, 1].tolist() == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.cell
@pytest.mark.parametrize("n,m", [(2, 4), (4, 8)])
def test_nm_holds_on_every_layer_after_retraining(tiny_cfg, tmp_path, n, m):
    record = run_cell(tiny_cfg("pruner=nm", f"pruner.n={n}", f"pruner.m={m}", "schedule=clr"), tmp_path / "out").as_dict()
    saved = torch.load(next((tmp_path / "cache" / "cells").glob("*/model.pt")), weights_only=True)["state_dict"]
    layers = [k[:-len(".weight_mask")] for k in saved if k.endswith("weight_mask")]
    assert len(layers) == 19
    for name in layers:
        weight = saved[f"{name}.weight_orig"] * saved[f"{name}.weight_mask"]
        channels = weight.shape[1]
        groups = weight.permute(0, 2, 3, 1)[..., :channels // m * m].reshape(-1, m)
        if groups.numel():  # a layer reading fewer than M channels has no group: all of it is remainder
            assert int((groups != 0).sum(1).max()) <= n, name
        assert torch.all(weight.permute(0, 2, 3, 1)[..., channels // m * m:] != 0), name  # the remainder stays dense
    # Quarter width: 4, 8, 16 channels. 2:4 leaves only the RGB stem dense; 4:8 also every conv reading 4 channels.
    remainder = {"conv1": 3} if m == 4 else {"conv1": 3, "layer2.0.conv1": 4,
                                              **{f"layer1.{b}.conv{c}": 4 for b in range(3) for c in (1, 2)}}
    assert record["model"]["nm"]["dense_remainder_channels"] == remainder
    assert record["model"]["nm"]["kernels"]["used"] is False
    if m == 4:  # 108 stem weights dense of 16,812: (0.5 x 16,704 + 108) / 16,812
        assert record["model"]["nm"]["density"] == pytest.approx((0.5 * 16704 + 108) / 16812)


@pytest.mark.parametrize("overrides", [
    ["pruner=nm", "pruner.n=5", "pruner.m=4"], ["pruner=nm", "pruner.n=4", "pruner.m=4"],
    ["pruner=agp", "pruner.start=0.5", "pruner.end=0.5"], ["pruner=agp", "pruner.start=0.6", "pruner.end=0.4"],
    ["pruner=agp", "pruner.initial_sparsity=0.9", "pruner.sparsity=0.5"], ["pruner=agp", "pruner.rounds=2"],
    ["pruner=mwp", "pruner.allocation=dense"], ["pruner=mwp", "pruner.allocation=uniform", "pruner.sparsity=0.9999"],
    ["pruner=mwp", "pruner.allocation=lamp", "pruner.first_layer=dense", "pruner.sparsity=0.9999"],
])
def test_bad_sparsity_settings_fail_in_one_line_and_cache_nothing(tiny_cfg, tmp_path, overrides):
    with pytest.raises(ConfigError) as info:
        run_cell(tiny_cfg(*overrides), tmp_path / "out")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "cache").exists()


def test_an_unreachable_allocation_names_what_holds_it():
    with pytest.raises(ConfigError, match="allocation=uniform cannot reach the requested sparsity: the layers it keeps "
                                          r"dense \(conv1\) hold 432 weights"):
        plan_cell(compose_config(["pruner=mwp", "pruner.allocation=uniform", "pruner.sparsity=0.9995"]))


def test_plan_counts_agp_at_its_final_sparsity():
    agp = plan_cell(compose_config(["pruner=agp", "pruner.sparsity=0.9", "device=cpu"]))
    mwp = plan_cell(compose_config(["pruner=mwp", "pruner.sparsity=0.9", "device=cpu"]))
    assert agp["params_after"] == mwp["params_after"] and agp["identity"]["baseline"] == mwp["identity"]["baseline"]


PRESET_CELLS = {"allocation_ablation": 48, "gradual_vs_oneshot": 24, "nm_2_4": 18}
SMALL_CELLS = {"allocation_ablation_small": 48, "gradual_vs_oneshot_small": 24}  # the same grids at the CPU scale
SHRINK = [*TINY_DATA, "model=resnet20", "model.width=0.25", "recipe.epochs=2", "recipe.milestones=[1]",
          "budget.epochs=1", "progress=off", "device=cpu", "latency.repeats=0"]


def _sweep(tmp_path: Path, preset: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "benchmark" / "run.py"), "-m", f"+experiment={preset}", *SHRINK,
                           *extra, f"paths.cache={tmp_path / 'cache'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.sweep
@pytest.mark.subprocess
@pytest.mark.parametrize("preset", sorted(PRESET_CELLS | SMALL_CELLS))
def test_each_preset_plans_its_grid(tmp_path, preset):
    whole_set = ["dataset.train_subset=null"] if preset in SMALL_CELLS else []  # the tiny synthetic set is smaller
    run = _sweep(tmp_path, preset, "mode=plan", *whole_set)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"sweep plan: cells {(PRESET_CELLS | SMALL_CELLS)[preset]}," in run.stdout
    assert not (tmp_path / "cache").exists()


@pytest.mark.cell
@pytest.mark.sweep
@pytest.mark.subprocess
@pytest.mark.parametrize("preset", sorted(PRESET_CELLS))
def test_each_preset_runs_shrunk_to_the_end(tmp_path, preset):
    """One seed of each preset's grid on tiny synthetic data: every cell finishes at its sparsity."""
    run = _sweep(tmp_path, preset, "seed.retrain=0")
    assert run.returncode == 0, run.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "sweep").rglob("record.json")]
    assert len(records) == PRESET_CELLS[preset] // 3 and all(r["status"] == "finished" for r in records)
    for r in records:
        pruner = r["config"]["pruner"]
        if pruner["name"] == "nm":  # at most N of every M, and the remainder (layers reading < M channels) dense
            assert 0.4 < r["model"]["conv_sparsity"] <= 1 - pruner["n"] / pruner["m"] + 1e-9, pruner
        else:
            assert r["model"]["conv_sparsity"] == pytest.approx(pruner["sparsity"], abs=0.02), pruner
    if preset == "allocation_ablation":  # the four allocations leave four different layer profiles
        profiles = {json.dumps(r["model"]["layer_sparsity"], sort_keys=True) for r in records
                    if r["config"]["pruner"]["sparsity"] == 0.9 and r["config"]["schedule"]["name"] == "ft"}
        assert len(profiles) == 4


@pytest.mark.cell
@pytest.mark.subprocess
def test_an_agp_cell_killed_mid_way_resumes_to_the_same_masks(tmp_path):
    from tests.test_engine import KILLABLE, _checkpointed_epoch, _kill_and_resume

    log = _kill_and_resume(tmp_path, [*KILLABLE, "pruner=agp", "pruner.sparsity=0.8", "pruner.frequency=4",
                                      "schedule=clr", "budget.epochs=6"],
                           lambda cache: _checkpointed_epoch("cells/*/checkpoint-round0.pt", cache) >= 2)
    assert "resuming after epoch" in log
    whole, resumed = (torch.load(next((tmp_path / c / "cells").glob("*/model.pt")), weights_only=True)["state_dict"]
                      for c in ("c1", "c2"))
    masks = [k for k in whole if k.endswith("weight_mask")]
    assert masks and all(torch.equal(whole[k], resumed[k]) for k in masks)
    a, b = (json.loads((tmp_path / r / "record.json").read_text()) for r in ("r1", "r3"))
    assert a["retraining"]["gradual"] == b["retraining"]["gradual"]
