"""``make bench``: training throughput of the suite's pipeline against the reference one.

The reference is what the original study ran: a torchvision ``DataLoader`` over PIL
images with ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, ``ToTensor`` and
``Normalize`` applied one sample at a time, fp32. The suite keeps uint8 data on the
device and augments whole batches there (``benchmark.data.tensors.DeviceLoader``), with the
fast path of ``benchmark.train`` (channels_last on CUDA), timed at both precisions, fp32 and bf16
autocast, alternately in one process: ``suite_img_s`` is the rate of the precision ``auto``
resolves to on this device (bf16 on CUDA and on CPUs with native bf16), the one plan mode uses.

Both run in one process on the same model, alternating, warm-up steps excluded, and
the median of the repeats is reported: images per second for the whole training step
and for the data path alone, FLOPs per image and peak memory. Speed is reported here,
never asserted in a test. A last row times the demo grid (``--demo-seeds``). Usage: ``python -m benchmark.speed.bench [--steps 5 --repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import torch

from benchmark.data import Split
from benchmark.device import configure_backend, resolve_device
from benchmark.environment import cpu_model
from benchmark.fastpath import cpu_capability, precision
from benchmark.pruning.counting import count_macs
from benchmark.speed import packed as bench_pack
from benchmark.speed.steps import (
    CASES,
    bench_model,
    case_name,
    reference_batches,
    suite_batches,
    suite_step,
    synthetic_split,
    trainer,
)


def _time(steps: int, warmup: int, batches: Callable[[], Iterator], step: Callable, device: torch.device) -> float:
    """Images per second over ``steps`` steps after ``warmup`` untimed ones."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    it, done, began = batches(), 0, 0.0
    for i in range(warmup + steps):
        try:
            x, y = next(it)
        except StopIteration:
            it = batches()
            x, y = next(it)
        if i == warmup:
            sync()
            began = time.perf_counter()
        step(x.to(device, non_blocking=True), y.to(device, non_blocking=True))
        done += len(y) if i >= warmup else 0
    sync()
    return done / (time.perf_counter() - began)


def _case_in_own_process(name: str, variant: str | None, round_to: int, args: argparse.Namespace,
                         device_name: str) -> Dict[str, Any]:
    """One case in a fresh (spawned) process: its peak memory is its own, not the largest of
    every case before it, and no case inherits another's allocator or compiled state."""
    device = resolve_device(device_name)
    configure_backend(device, deterministic=False)
    return bench_case(name, variant, round_to, synthetic_split(), args, device)


def bench_case(name: str, variant: str | None, round_to: int, split: Split, args: argparse.Namespace,
               device: torch.device) -> Dict[str, Any]:
    model = bench_model(name, variant, round_to, device)
    macs = count_macs(model)
    steps = {}
    for arithmetic in ("fp32", "bf16"):  # the same weights at each precision
        suite_model = bench_model(name, variant, round_to, device)
        suite_model.load_state_dict(model.state_dict())
        steps[arithmetic] = suite_step(suite_model, device, args.compile, arithmetic)

    ref_step = trainer(model, model, nullcontext, False)
    ref_batches = reference_batches(split, args.batch)
    suite_data = suite_batches(split, args.batch, device)
    auto = precision(device, True)
    first = {k: _time(1, 0, suite_data, s, device) for k, s in steps.items()}  # the first step: compilation included
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    runs: Dict[str, List[float]] = {"fp32": [], "bf16": [], "reference": [], "suite_data": [], "reference_data": []}
    for _ in range(args.repeats):  # alternate so drift hits all alike
        runs["reference"].append(_time(args.steps, args.warmup, ref_batches, ref_step, device))
        for arithmetic, step in steps.items():
            runs[arithmetic].append(_time(args.steps, args.warmup, suite_data, step, device))
        runs["reference_data"].append(_time(args.data_steps, 1, ref_batches, lambda x, y: None, device))
        runs["suite_data"].append(_time(args.data_steps, 1, suite_data, lambda x, y: None, device))
    med = {k: statistics.median(v) for k, v in runs.items()}
    med["suite"] = med[auto]
    first_rate = first[auto]
    peak = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"model": case_name(name, variant, round_to), "mflops_per_image": macs / 1e6,
            "suite_img_s": med["suite"], "precision": auto, "fp32_img_s": med["fp32"], "bf16_img_s": med["bf16"],
            "bf16_ratio": med["bf16"] / med["fp32"],
            "reference_img_s": med["reference"], "speedup": med["suite"] / med["reference"],
            "suite_data_img_s": med["suite_data"], "reference_data_img_s": med["reference_data"],
            "data_speedup": med["suite_data"] / med["reference_data"], "peak_memory_mib": peak,
            "compiled": args.compile, "first_step_s": args.batch / first_rate}


DEMO_GRID = ["+experiment=demo", "budget.epochs=3,6", "schedule=ft,lrw,slr,clr"]  # the Makefile's demo, per seed


def bench_demo(seeds: str, workdir: Path, extra: List[str] = ()) -> Dict[str, Any]:
    """The demo grid for ``seeds`` (``0``: one of its three seeds, a third of ``make demo``) from an
    empty cache, in a process of its own with W&B offline as ``make demo`` runs it: its wall and CPU
    seconds, and the same run's mean baseline epoch, so the ratio reads the same on a busy machine."""
    import os
    import subprocess
    import sys

    workdir.mkdir(parents=True, exist_ok=True)
    run_py = Path(__file__).resolve().parents[2] / "benchmark" / "run.py"
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
    before, began = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run([sys.executable, str(run_py), "-m", *DEMO_GRID, f"seed.retrain={seeds}", "progress=off",
                           f"paths.cache={workdir / 'cache'}", f"hydra.sweep.dir={workdir / 'outputs'}", *extra],
                          cwd=workdir, env=env, capture_output=True, text=True)
    wall, after = time.perf_counter() - began, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"the demo grid failed: {done.stderr[-2000:]}")
    metas = list((workdir / "cache" / "baselines").glob("*/meta.json"))
    epochs = [row["seconds"] for meta in metas for row in json.loads(meta.read_text())["history"]]
    cells = len(list((workdir / "outputs").rglob("record.json")))
    epoch = statistics.mean(epochs)
    return {"seeds": seeds, "cells": cells, "baselines": len(metas), "wall_s": wall,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "baseline_epoch_s": epoch, "wall_in_baseline_epochs": wall / epoch}


def demo_markdown(demo: Dict[str, Any]) -> List[str]:
    return ["", "## The demo grid", "",
            "| seeds | cells | wall s | CPU s | baseline epoch s | wall / baseline epoch |", "|---|---|---|---|---|---|",
            f"| {demo['seeds']} | {demo['cells']} | {demo['wall_s']:.1f} | {demo['cpu_s']:.1f} | "
            f"{demo['baseline_epoch_s']:.2f} | {demo['wall_in_baseline_epochs']:.1f} |", "",
            "From an empty cache, W&B offline, the table itself not built. `make demo` runs seeds 0,1,2: "
            "about three times this row for seed 0 alone (docs/speed.md, the demo's budget)."]


def to_markdown(rows: List[Dict[str, Any]], meta: Dict[str, Any], packed: List[Dict[str, Any]],
                demo: Dict[str, Any] | None = None) -> str:
    compiled = "compiled" if meta["compile"] else "not compiled"
    lines = [f"# Training throughput ({meta['device']}, batch {meta['batch']}, median of {meta['repeats']}, "
             f"{meta['steps']} timed steps after {meta['warmup']} warm-up; suite step {compiled})", "",
             "| model | MFLOPs/img | suite fp32 img/s | suite bf16 img/s | bf16/fp32 | suite img/s (auto) "
             "| reference img/s | speed-up | data suite img/s | data reference img/s "
             "| data speed-up | peak MiB | first step s |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['mflops_per_image']:.1f} | {r['fp32_img_s']:.0f} | {r['bf16_img_s']:.0f} | "
                     f"{r['bf16_ratio']:.2f}x | {r['suite_img_s']:.0f} ({r['precision']}) | {r['reference_img_s']:.0f} | "
                     f"{r['speedup']:.2f}x | {r['suite_data_img_s']:.0f} | {r['reference_data_img_s']:.0f} | "
                     f"{r['data_speedup']:.1f}x | {r['peak_memory_mib']:.0f} | {r['first_step_s']:.1f} |")
    peak = ("CUDA max allocated" if meta["device"].startswith("cuda")
            else "peak resident memory of the case's own process (torch itself included)")
    lines += ["", f"Peak memory: {peak}. Reference: torchvision DataLoader + PIL transforms per sample, fp32. "
              "First step: the suite's first training step, torch.compile's compilation included "
              "(seconds when torch's compile cache already holds the model, up to a minute when not).",
              "Suite fp32 / bf16: the suite's step at each precision, alternating in one process; "
              "auto: the precision `precision=auto` resolves to here (the rate plan mode uses).",
              f"torch {meta['torch']}, {meta['threads']} threads, CPU {meta.get('cpu_model')} "
              f"(torch ISA {meta.get('cpu_isa')}, native bf16: {meta.get('cpu_native_bf16')}), "
              f"load average {meta.get('load')}."]
    if packed:
        lines += ["", *bench_pack.to_markdown(packed)]
    if demo:
        lines += demo_markdown(demo)
    return "\n".join(lines) + "\n"


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--data-steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default=",".join(case_name(*c) for c in CASES))
    parser.add_argument("--no-compile", dest="compile", action="store_false",
                        help="time the suite's step without torch.compile")
    parser.add_argument("--pack", default=None,
                        help="processes per device to measure packed cells with, e.g. 1,2,4 "
                             "(default: 1,2,4 on CUDA, 1,2 on the CPU; 0 skips)")
    parser.add_argument("--pack-models", default="resnet56-B", help="models of the packed measurement")
    parser.add_argument("--pack-seconds", type=float, default=20.0, help="timed seconds per packed measurement")
    parser.add_argument("--demo-seeds", default="0",
                        help="seeds of the timed demo grid (0: a third of make demo; 0,1,2: all of it; empty: skip)")
    parser.add_argument("--out", default="results")
    args = parser.parse_args(argv)
    known = [case_name(*c) for c in CASES]
    for option, names in (("--models", args.models), ("--pack-models", args.pack_models)):
        unknown = [n for n in names.split(",") if n and n not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    device = resolve_device(args.device)
    try:
        counts = [int(k) for k in (args.pack or ("1,2,4" if device.type == "cuda" else "1,2")).split(",")]
    except ValueError:
        parser.error(f"--pack={args.pack!r} must be process counts such as 1,2,4 (0 skips)")
    configure_backend(device, deterministic=False)
    wanted = args.models.split(",")
    rows = []
    spawn = multiprocessing.get_context("spawn")
    for name, variant, round_to in CASES:
        if case_name(name, variant, round_to) in wanted:
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
                rows.append(pool.submit(_case_in_own_process, name, variant, round_to, args, str(device)).result())
            print(json.dumps(rows[-1]), flush=True)
    counts = [k for k in counts if k > 0]
    packed = []
    for case in CASES:
        if case_name(*case) in args.pack_models.split(",") and counts:
            packed += bench_pack.measure(case, counts, args.batch, args.pack_seconds, str(device), args.compile)
    demo = None
    if args.demo_seeds:
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            demo = bench_demo(args.demo_seeds, Path(scratch))
        print(json.dumps({"demo": demo}), flush=True)
    meta = {"device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device), "batch": args.batch,
            "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "compile": args.compile, "cpu_model": cpu_model(),
            **{f"cpu_{k}": v for k, v in cpu_capability().items()}, "load": [round(x, 2) for x in os.getloadavg()]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"meta": meta, "rows": rows, "packed": packed, "demo": demo}, indent=2) + "\n")
    (out / "bench.md").write_text(to_markdown(rows, meta, packed, demo))
    print(to_markdown(rows, meta, packed, demo))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
