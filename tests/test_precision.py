"""Precision follows the hardware: bf16 autocast on CUDA and on CPUs with native bf16, fp32
elsewhere, a setting that forces either, and the precision in the identity and the record."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark import fastpath
from benchmark.fastpath import fast_path, precision
from benchmark.tasks import cell_identity
from tests.conftest import compose_config

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
FP32_CPU_BASELINE = "base-1015a669a525c005"  # tests/test_engine.py's pin of the default cell in fp32
BF16_BASELINE = "base-60f848acff297416"  # its pin of the default cell in bf16 (CUDA)


@pytest.fixture
def native(monkeypatch):
    """Pretend the CPU does (True) or does not (False) compute bf16 natively."""
    def set_to(value: bool) -> None:
        monkeypatch.setattr(fastpath, "native_cpu_bf16", lambda: value)
    return set_to


@pytest.mark.parametrize("device,has_native,fast,requested,expected", [
    (CUDA, False, True, "auto", "bf16"),   # CUDA: bf16 under the fast path, whatever the CPU
    (CUDA, True, False, "auto", "fp32"),   # fast=false keeps fp32
    (CPU, True, True, "auto", "bf16"),     # AVX512-BF16 / AMX: bf16
    (CPU, False, True, "auto", "fp32"),    # AVX2 only: fp32 (bf16 would be emulated, slower)
    (CPU, True, False, "auto", "fp32"),
    (CPU, False, True, "bf16", "bf16"),    # forced: runs, slowly
    (CPU, True, True, "fp32", "fp32"),     # forced fp32 on a bf16 CPU
    (CUDA, False, False, "bf16", "bf16"),
])
def test_precision_follows_the_hardware_unless_forced(native, device, has_native, fast, requested, expected):
    native(has_native)
    assert precision(device, fast, requested) == expected


def test_an_unknown_precision_is_refused_in_one_line():
    with pytest.raises(ValueError, match="precision='fp16'"):
        precision(CPU, True, "fp16")  # the config's one-line refusal: tests/test_validation.py


def test_the_identity_names_the_precision_the_cell_runs_at(native):
    native(False)
    auto_without = cell_identity(compose_config(["device=cpu"]), 40)
    assert auto_without.baseline == FP32_CPU_BASELINE
    assert auto_without.payloads["baseline"]["precision"] == "fp32"
    native(True)
    auto_with = cell_identity(compose_config(["device=cpu"]), 40)
    assert auto_with.payloads["baseline"]["precision"] == "bf16"
    # bf16 is bf16 wherever it runs: the device is not hashed, its arithmetic is
    assert auto_with.baseline == BF16_BASELINE
    assert cell_identity(compose_config(["device=cpu", "precision=fp32"]), 40).baseline == FP32_CPU_BASELINE
    native(False)
    assert cell_identity(compose_config(["device=cpu", "precision=bf16"]), 40).baseline == BF16_BASELINE


def test_forced_bf16_on_a_cpu_without_it_says_so_once(native, monkeypatch, caplog):
    native(False)
    monkeypatch.setattr(fastpath, "_warned_emulated", False)
    with caplog.at_level(logging.WARNING, logger=fastpath.__name__):
        for _ in range(3):
            fast_path(nn.Linear(2, 2), CPU, True, "bf16")
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "without native bf16" in caplog.records[0].message


def test_a_bf16_cpu_step_trains_with_batchnorm_statistics_in_fp32():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    model, autocast, channels_last = fast_path(model, CPU, True, "bf16")
    assert not channels_last  # the CPU keeps its default layout
    x = torch.randn(64, 3, 8, 8)
    y = (x[:, 0].mean(dim=(1, 2)) > 0).long()  # learnable: the sign of the first channel's mean
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    bn = model[1]
    seen = {}
    model[0].register_forward_hook(lambda m, i, o: seen.update(conv=o.dtype))
    losses = []
    for _ in range(30):
        with autocast():
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert seen["conv"] == torch.bfloat16  # the convolution really ran in bf16
    assert bn.running_mean.dtype == bn.running_var.dtype == bn.weight.dtype == torch.float32
    assert bn.running_mean.abs().sum() > 0  # the statistics were updated
    assert losses[-1] < 0.5 * losses[0]


def test_plan_mode_prices_a_cell_at_the_rate_of_the_precision_it_will_run(tmp_path):
    import json

    from benchmark.tasks.image_cost import cell_throughput

    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"meta": {"threads": 2}, "rows": [
        {"model": "resnet56", "suite_img_s": 300.0, "fp32_img_s": 200.0, "bf16_img_s": 350.0}]}))
    rate = {p: cell_throughput(compose_config(["device=cpu", f"precision={p}"]), bench) for p in ("fp32", "bf16")}
    assert (rate["fp32"]["cpu_images_per_s"], rate["fp32"]["cpu_precision"]) == (200.0, "fp32")
    assert (rate["bf16"]["cpu_images_per_s"], rate["bf16"]["cpu_precision"]) == (350.0, "bf16")
    old = tmp_path / "old.json"  # a bench file from before both precisions were timed: fp32 only
    old.write_text(json.dumps({"meta": {"threads": 2}, "rows": [{"model": "resnet56", "suite_img_s": 300.0}]}))
    assert cell_throughput(compose_config(["device=cpu", "precision=fp32"]), old)["cpu_images_per_s"] == 300.0
    assert cell_throughput(compose_config(["device=cpu", "precision=bf16"]), old)["cpu_images_per_s"] is None


@pytest.mark.parametrize("overrides", [["device=cuda"], ["device=cuda", "fast=false"], ["device=cuda", "precision=fp32"],
                                       ["device=cpu", "precision=bf16"], ["device=cpu", "precision=fp32"]])
def test_a_language_model_cell_resolves_its_precision_by_the_image_cells_rule(overrides):
    """One rule for every task (tasks.device_precision): a language-model cell is bf16 exactly where an
    image cell is (it was fp32 everywhere before issue 28 gave it the fast path)."""
    lm = cell_identity(compose_config(["+experiment=demo_lm", "fast=true", *overrides]), 2)  # the demo: fast=false
    image = cell_identity(compose_config(["+experiment=demo", "fast=true", *overrides]), 2)
    assert lm.payloads["baseline"]["precision"] == image.payloads["baseline"]["precision"]
    assert lm.payloads["baseline"]["precision"] == ("fp32" if "fast=false" in overrides or "precision=fp32" in overrides
                                                    else "bf16")
    from benchmark.plan import format_plan, plan_cell

    plan = plan_cell(compose_config(["+experiment=demo_lm", "fast=true", *overrides]))  # plan mode says which
    assert f"precision {lm.payloads['baseline']['precision']}" in format_plan(plan, "text").splitlines()


@pytest.mark.cell
def test_a_language_model_cell_trains_and_evaluates_in_the_precision_it_records(tmp_path, monkeypatch):
    """The text task runs the shared fast path (issue 28): under precision=bf16 every training step and
    every perplexity runs under bf16 autocast, under fp32 none does; the identities and the record say
    which, and the two perplexities agree to a few percent (bf16 rounds, it does not change the task)."""
    pytest.importorskip("transformers")
    from benchmark.cell import run_cell
    from benchmark.lm import objective
    from benchmark.tasks import text
    from tests.test_lm import TINY_LM

    seen = []

    def watched(original):
        def loss(model, batch):
            seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
            return original(model, batch)
        return loss

    monkeypatch.setattr(objective, "token_loss", watched(objective.token_loss))  # perplexity's
    monkeypatch.setattr(text, "token_loss", watched(text.token_loss))  # the training step's
    records, identities = {}, {}
    for wanted in ("fp32", "bf16"):
        cfg = compose_config([*TINY_LM, f"precision={wanted}", f"paths.cache={tmp_path / 'cache'}", "schedule=clr"])
        identities[wanted] = cell_identity(cfg, 1)
        seen.clear()
        records[wanted] = run_cell(cfg, tmp_path / wanted)
        assert len(seen) > 10 and set(seen) == {wanted == "bf16"}, wanted  # training steps and evaluations alike
        assert records[wanted].environment["precision"] == wanted
    assert identities["fp32"].baseline != identities["bf16"].baseline
    assert identities["bf16"].payloads["baseline"]["precision"] == "bf16"
    fp32, bf16 = (records[p].metrics["test_ppl"] for p in ("fp32", "bf16"))
    assert fp32 != bf16 and abs(bf16 - fp32) / fp32 < 0.05, (fp32, bf16)
