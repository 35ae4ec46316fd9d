"""What an image cell's plan costs in hours: the images its stages process, over images per second.

Plan mode counts epochs exactly; hours need a throughput, and the two sources differ in kind:

- **GPU: an estimate.** No GPU has been measured for this suite yet, so ``GPU_IMAGES_PER_S``
  holds assumed training throughputs of one current data-centre GPU (A100/H100 class, fp32
  with TF32, the recipe's batch, the suite's on-device data path). Treat the hours as an
  order of magnitude. Override for a sweep with ``plan.gpu_images_per_s=<img/s>`` (measure it
  with ``make bench`` on that GPU: ``suite_img_s`` in ``results/bench.json``).
- **CPU: measured.** ``results/bench.json`` (``make bench``) holds the suite's measured
  training img/s per model on the CPU it ran on (its ``meta`` says which); used where the model
  (at full width) is there.

An evaluation image costs about a third of a training image (a forward pass against forward
plus backward), so images are counted as ``training + evaluation / 3``. The dense model's rate
is used for retraining too: pruned models train faster, so the hours are an upper bound.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

from benchmark.schema import BenchmarkConf

# Assumed training img/s on one GPU, per model (ESTIMATES, not measurements; see above).
GPU_IMAGES_PER_S: Dict[str, float] = {
    "resnet20": 20_000, "resnet32": 14_000, "resnet56": 9_000, "resnet110": 4_500, "vgg16": 12_000,
    "vgg19": 10_000, "preresnet110": 4_500, "densenet40": 3_000, "mobilenetv2": 6_000, "vit": 6_000,
    "resnet18": 2_500, "resnet34": 1_500, "resnet50": 800,  # ImageNet, 224 px
}
UNKNOWN_GPU_IMAGES_PER_S = 2_000.0  # a model not in the table (a custom one)
EVALUATION_COST = 1 / 3  # of a training image
BENCH = Path(__file__).resolve().parents[2] / "results" / "bench.json"
# make bench's rates at both precisions where measured (fp32_img_s, bf16_img_s): read first.
PRECISION_BENCH = BENCH.parent / "bench_precision" / "bench.json"
TEST_IMAGES = {"cifar10": 10_000, "cifar100": 10_000, "imagenet": 50_000}  # synthetic: dataset.test_size


def _measured_cpu(model: str, bench: Path = BENCH, precision: str = "fp32") -> Dict[str, Any] | None:
    """The measured rate of ``model`` at ``precision`` (``fp32_img_s`` or ``bf16_img_s``; a bench
    file from before both were measured has ``suite_img_s`` only, which was fp32 on the CPU)."""
    try:
        data = json.loads(bench.read_text())
    except (OSError, ValueError):
        return None
    rows = [r for r in data.get("rows", []) if r.get("model") == model and r.get("suite_img_s")]
    if not rows:
        return None
    rate = rows[0].get(f"{precision}_img_s") or (rows[0]["suite_img_s"] if precision == "fp32" else None)
    if rate is None:
        return None
    return {"images_per_s": float(rate), "threads": data.get("meta", {}).get("threads"), "precision": precision}


def cell_throughput(cfg: BenchmarkConf, bench: Path = BENCH) -> Dict[str, Any]:
    """A cell's images per stage epoch and the rates that turn them into hours."""
    from benchmark.data import train_length  # torch: only where a cell is planned, not for the sweep's totals

    name = cfg.model.name
    override = cfg.plan.gpu_images_per_s
    gpu = float(override) if override is not None else GPU_IMAGES_PER_S.get(name, UNKNOWN_GPU_IMAGES_PER_S)
    import torch

    from benchmark.fastpath import precision  # what the cell would run at on this CPU

    arithmetic = precision(torch.device("cpu"), cfg.fast, cfg.precision)
    cpu = None
    if cfg.model.width == 1.0:
        sources = [PRECISION_BENCH, bench] if bench == BENCH else [bench]
        cpu = next((rate for rate in (_measured_cpu(name, path, arithmetic) for path in sources) if rate), None)
    test = getattr(cfg.dataset, "test_size", None) or TEST_IMAGES.get(cfg.dataset.name, 0)
    return {"model": name, "train_images": train_length(cfg.dataset), "val_images": cfg.dataset.val_size,
            "test_images": test, "gpu_images_per_s": gpu, "gpu_measured": override is not None,
            "cpu_images_per_s": None if cpu is None else cpu["images_per_s"],
            "cpu_threads": None if cpu is None else cpu["threads"], "cpu_precision": arithmetic}


def stage_images(rate: Dict[str, Any], epochs: int, evaluations: int = 1) -> float:
    """Training-image equivalents of ``epochs`` epochs (training plus validation each epoch)
    and ``evaluations`` passes over the test set."""
    evaluated = epochs * rate["val_images"] + evaluations * rate["test_images"]
    return epochs * rate["train_images"] + EVALUATION_COST * evaluated


def sweep_hours(work: List[tuple[float, Dict[str, Any]]]) -> Dict[str, Any]:
    """GPU- and CPU-hours of (images, rate) pairs; CPU only when every model was measured."""
    images = sum(n for n, _ in work)
    gpu = sum(n / r["gpu_images_per_s"] for n, r in work) / 3600
    cpu_known = all(r["cpu_images_per_s"] for _, r in work)
    cpu = sum(n / r["cpu_images_per_s"] for n, r in work) / 3600 if cpu_known and work else None
    rates = sorted({(r["gpu_images_per_s"], r["gpu_measured"]) for _, r in work})
    cpu_rates = sorted({(r["cpu_images_per_s"], r["cpu_threads"], r.get("cpu_precision", "fp32"))
                        for _, r in work}) if cpu_known else []
    return {"images": images, "gpu_hours": gpu, "gpu_rates": rates, "cpu_hours": cpu, "cpu_rates": cpu_rates}


def describe_hours(hours: Dict[str, Any]) -> str:
    """``images to process N, GPU-hours ~X (at Y img/s per GPU, estimated), CPU-hours ~Z (...)``."""
    gpu = "/".join(f"{r:,.0f}" for r, _ in hours["gpu_rates"])
    how = "plan.gpu_images_per_s" if all(m for _, m in hours["gpu_rates"]) else "estimated"
    text = f"images to process {hours['images']:,.0f}, GPU-hours ~{hours['gpu_hours']:.3g} (at {gpu} img/s per GPU, {how})"
    if hours["cpu_hours"] is None:
        return text + ", CPU-hours unknown (a model not in results/bench.json)"
    cpu = "/".join(f"{r[0]:,.0f}" for r in hours["cpu_rates"])
    threads = "/".join(str(r[1]) for r in hours["cpu_rates"])
    arithmetic = "/".join(sorted({r[2] if len(r) > 2 else "fp32" for r in hours["cpu_rates"]}))
    return text + (f", CPU-hours ~{hours['cpu_hours']:.3g} (at {cpu} img/s {arithmetic} measured on {threads} threads "
                   "by make bench)")


def cell_work(plan: Dict[str, Any], baseline: bool = True, pruned: bool = True, cell: bool = True) -> List[tuple]:
    """(images, rates) of the stages of one cell's plan that are asked for and not cached: the
    baseline (E epochs, then the test set), the pruned model (one test pass) and the retraining
    (T epochs per round, a test pass after each round)."""
    rate, cached, work = plan["throughput"], plan["cached"], []
    if baseline and not cached["baseline"]:
        work.append((stage_images(rate, plan["baseline_epochs"]), rate))
    if pruned and not cached["pruned"]:
        work.append((stage_images(rate, 0), rate))
    if cell and not cached["cell"]:
        work.append((stage_images(rate, plan["budget_epochs"] * plan["rounds"], plan["rounds"]), rate))
    return work
