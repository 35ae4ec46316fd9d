"""Plan mode's hours: images to process over images per second, against a hand computation."""

from __future__ import annotations

import json

import pytest

from benchmark.tasks import image_cost as throughput
from benchmark.launch.sweep_callbacks import PlanSummary, hours
from benchmark.plan import plan_cell
from tests.conftest import compose_config

# The demo: 1,500 synthetic training images, 1,000 test images, no validation split, E = 12, T = 6.
DEMO = ["+experiment=demo", "plan.gpu_images_per_s=1000"]


@pytest.fixture(scope="module")
def plans():
    return [plan_cell(compose_config([*DEMO, f"schedule={s}", f"pruner={p}"])) for s in ("ft", "clr") for p in ("l1", "random")]


def _uncached(plans, baseline=False):
    for p in plans:
        p["cached"] = {"baseline": baseline, "pruned": False, "cell": False}
    return plans


def test_sweep_images_and_gpu_hours_are_the_hand_computed_ones(plans, capsys):
    plans = _uncached(plans)
    baseline = 12 * 1500 + 1000 / 3  # one shared baseline: E epochs, then one test pass at a third of the cost
    pruned = 2 * (1000 / 3)  # two pruned models (l1, random), each evaluated once
    cells = 4 * (6 * 1500 + 1000 / 3)  # four cells of T epochs and a test pass
    total = hours(plans + plans[:1])  # a repeated cell counts once
    assert total["images"] == pytest.approx(baseline + pruned + cells)
    assert total["gpu_hours"] == pytest.approx((baseline + pruned + cells) / 1000 / 3600)
    assert total["cpu_hours"] is None  # half-width ResNet-20 was never measured by make bench
    summary = PlanSummary()
    summary.plans = plans
    summary.on_multirun_end(config=None)
    line = capsys.readouterr().out.strip()
    assert line.startswith("sweep plan: cells 4, ") and "epochs to train 36" in line
    assert f"GPU-hours ~{(baseline + pruned + cells) / 3.6e6:.3g} (at 1,000 img/s per GPU, plan.gpu_images_per_s)" in line
    assert "CPU-hours unknown" in line


def test_a_cached_baseline_costs_nothing(plans):
    full, cached = hours(_uncached(plans))["images"], hours(_uncached(plans, baseline=True))["images"]
    assert full - cached == pytest.approx(12 * 1500 + 1000 / 3)


def test_without_an_override_the_gpu_rate_is_the_stated_estimate_and_the_cpu_rate_is_measured(tmp_path):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"meta": {"threads": 4}, "rows": [{"model": "resnet20", "suite_img_s": 500.0}]}))
    cfg = compose_config(["+experiment=findings_small", "precision=fp32"])  # a bench file of fp32 rates only
    rate = throughput.cell_throughput(cfg, bench)
    assert rate["gpu_images_per_s"] == throughput.GPU_IMAGES_PER_S["resnet20"] and not rate["gpu_measured"]
    assert (rate["train_images"], rate["test_images"], rate["cpu_images_per_s"], rate["cpu_threads"]) == (5000, 10_000, 500.0, 4)
    images = 3 * 5000 + 10_000 / 3  # T = 3 epochs of 5,000 images, one test pass
    total = throughput.sweep_hours([(throughput.stage_images(rate, 3), rate)])
    assert total["cpu_hours"] == pytest.approx(images / 500 / 3600)
    text = throughput.describe_hours(total)
    assert "img/s per GPU, estimated)" in text and "(at 500 img/s fp32 measured on 4 threads by make bench)" in text
    half = throughput.cell_throughput(compose_config(["+experiment=findings_small", "precision=fp32", "model.width=0.5"]), bench)
    assert half["cpu_images_per_s"] is None  # measured only at full width
