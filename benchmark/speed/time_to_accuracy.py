"""Wall time for ResNet-20 to reach a stated test accuracy on real CIFAR-10, at each precision.

A CPU anchor: the same baseline (the findings_small scale by default: ResNet-20 on the first
5,000 images of a seeded permutation, E = 12 of the paper's step recipe, batch 64) trained once
in fp32 and once in bf16 autocast, in one process, one after the other, on this machine's
threads. After every epoch the test split is evaluated (a speed measurement, not a result: no
epoch or checkpoint is chosen by it); the report is the training wall time (evaluation excluded)
until the first epoch whose test top-1 reaches ``--target``, and each precision's final top-1.

Usage: ``python -m benchmark.speed.time_to_accuracy --root <folder with cifar-10-batches-py>
[--target 45] [--out results/bench_tta] [overrides...]`` (overrides compose like run.py's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.data import open_data
from benchmark.device import configure_backend, resolve_device, seed_everything
from benchmark.environment import cpu_model
from benchmark.fastpath import cpu_capability
from benchmark.retraining.schema import OriginalScheduleConf
from benchmark.schema import register_configs
from benchmark.tasks.image import dense_model
from benchmark.tasks.image import evaluate
from benchmark.train import TrainSettings, train

CONF = Path(__file__).resolve().parents[2] / "conf"


def compose_cfg(overrides: Sequence[str]) -> Any:
    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return OmegaConf.to_object(compose(config_name="config", overrides=list(overrides)))


def run_precision(cfg: Any, precision: str, target: float) -> Dict[str, Any]:
    """Train the baseline at ``precision``; the per-epoch training seconds and test top-1."""
    device = resolve_device(cfg.device)
    configure_backend(device, cfg.deterministic)
    seed_everything(cfg.seed.baseline)
    data = open_data(cfg.dataset, cfg.recipe.batch_size, device)
    model = dense_model(cfg, device)
    curve: List[Dict[str, float]] = []
    clock = {"train": 0.0, "last": time.perf_counter()}

    def on_epoch(row: Dict[str, float]) -> None:
        clock["train"] += row["seconds"]
        curve.append({"epoch": row["epoch"] + 1, "train_seconds": clock["train"],
                      "test_top1": evaluate(model, data.evals["test"], True, precision)["top1"]})
        print(json.dumps({"precision": precision, **curve[-1]}), flush=True)

    settings = TrainSettings(progress="off", fast=True, precision=precision, compile_min_steps=cfg.compile_min_steps)
    with tempfile.TemporaryDirectory() as scratch:
        train(model, data.train(cfg.seed.baseline), epochs=cfg.recipe.epochs, schedule=OriginalScheduleConf(),
              recipe=cfg.recipe, checkpoint=Path(scratch) / "checkpoint.pt", desc=f"tta {precision}",
              settings=settings, on_epoch=on_epoch)
    reached = next((row for row in curve if row["test_top1"] >= target), None)
    return {"precision": precision, "curve": curve, "final_top1": curve[-1]["test_top1"],
            "epochs_to_target": None if reached is None else reached["epoch"],
            "seconds_to_target": None if reached is None else reached["train_seconds"]}


def to_markdown(result: Dict[str, Any]) -> str:
    meta = result["meta"]
    lines = [f"# Time to {meta['target']:g}% test top-1: {meta['model']} on {meta['dataset']} ({meta['scale']})", "",
             "| precision | epochs to target | training seconds to target | final test top-1 | seconds per epoch |",
             "|---|---|---|---|---|"]
    for run in result["runs"]:
        per_epoch = run["curve"][-1]["train_seconds"] / len(run["curve"])
        reached = ("not reached | " if run["epochs_to_target"] is None
                   else f"{run['epochs_to_target']} | {run['seconds_to_target']:.1f}")
        lines.append(f"| {run['precision']} | {reached} | {run['final_top1']:.2f} | {per_epoch:.2f} |")
    lines += ["", f"CPU {meta['cpu_model']} (torch ISA {meta['cpu_isa']}, native bf16: {meta['cpu_native_bf16']}), "
              f"{meta['threads']} threads, torch {meta['torch']}, load average before {meta['load_before']}, "
              f"after {meta['load_after']}. Training time only: the per-epoch test evaluation is excluded.",
              f"Command: `python -m benchmark.speed.time_to_accuracy {' '.join(meta['argv'])}`"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="folder holding cifar-10-batches-py")
    parser.add_argument("--target", type=float, default=45.0, help="test top-1 (%%) to reach")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--out", default="results/bench_tta")
    parser.add_argument("overrides", nargs="*", help="config overrides (default: +experiment=findings_small)")
    args = parser.parse_args(argv)
    overrides = args.overrides or ["+experiment=findings_small"]
    cfg = compose_cfg([*overrides, f"dataset.root={args.root}", "dataset.download=false", "device=cpu"])
    load_before = [round(x, 2) for x in os.getloadavg()]
    runs = [run_precision(cfg, p, args.target) for p in args.precisions.split(",")]
    meta = {"target": args.target, "scale": " ".join(overrides), "model": cfg.model.name, "dataset": cfg.dataset.name,
            "cpu_model": cpu_model(),
            **{f"cpu_{k}": v for k, v in cpu_capability().items()}, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "load_before": load_before,
            "load_after": [round(x, 2) for x in os.getloadavg()], "argv": list(argv if argv is not None else sys.argv[1:])}
    result = {"meta": meta, "runs": runs}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "time_to_accuracy.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "time_to_accuracy.md").write_text(to_markdown(result))
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
