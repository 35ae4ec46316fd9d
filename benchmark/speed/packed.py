"""``make bench``, packed part: what several cells per device gain, as cells per device-hour.

K processes train the same model at once on one device through ``benchmark.launch.packing`` (the
runner the packing launchers use, so each gets its share of the cores and the job's GPU),
each with the suite's training step. Every process warms up (compiling, when compiling),
then waits for the others and trains for a fixed number of seconds, so the timed windows
coincide; the aggregate rate is all images over the span from the first start to the last
end. A cell is counted as retraining for T = 40 epochs on CIFAR-10's 50,000 images.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Dict, List, Tuple

CELL_IMAGES = 40 * 50_000  # one cell of the count: T = 40 epochs over 50,000 images


def _train_for(case: Tuple[str, Any, int], batch: int, seconds: float, device_name: str, compile: bool,
               ready: str, index: int, count: int) -> Dict[str, float]:
    """One packed process: warm up, signal ready, wait for all ``count``, train ``seconds``."""
    import torch

    from benchmark.device import configure_backend, resolve_device
    from benchmark.speed.steps import (
        bench_model,
        suite_batches,
        suite_step,
        synthetic_split,
    )

    device = resolve_device(device_name)
    configure_backend(device, deterministic=False)
    step = suite_step(bench_model(*case, device), device, compile)
    loader = suite_batches(synthetic_split(), batch, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def batches():
        while True:
            yield from loader()

    stream = batches()
    for _ in range(3):  # warm-up: compilation, allocator, cuDNN choices
        step(*next(stream))
    sync()
    Path(ready, f"ready-{index}").touch()
    deadline = time.monotonic() + 1800
    while len(list(Path(ready).glob("ready-*"))) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the other packed processes never got ready")
        time.sleep(0.01)
    images, start = 0, time.time()
    while time.time() - start < seconds:
        step(*next(stream))
        images += batch
    sync()
    return {"images": images, "start": start, "end": time.time()}


def measure(case: Tuple[str, Any, int], counts: List[int], batch: int, seconds: float, device_name: str,
            compile: bool) -> List[Dict[str, Any]]:
    """One row per process count: aggregate and per-process images/s, cells per device-hour."""
    from benchmark.launch.packing import run_concurrently
    from benchmark.speed.steps import case_name

    rows: List[Dict[str, Any]] = []
    for count in counts:
        with TemporaryDirectory() as ready:
            calls = [functools.partial(_train_for, case, batch, seconds, device_name, compile, ready, i, count)
                     for i in range(count)]
            results = run_concurrently(calls)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise RuntimeError(f"packed measurement with {count} processes failed: {failed[0]!r}")
        span = max(r["end"] for r in results) - min(r["start"] for r in results)
        aggregate = sum(r["images"] for r in results) / span
        rows.append({"model": case_name(*case), "processes": count, "aggregate_img_s": aggregate,
                     "per_process_img_s": aggregate / count, "cells_per_hour": aggregate * 3600 / CELL_IMAGES,
                     "gain": aggregate / rows[0]["aggregate_img_s"] if rows else 1.0})
        print(rows[-1], flush=True)
    return rows


def to_markdown(rows: List[Dict[str, Any]]) -> List[str]:
    lines = ["## Several cells per device (`hydra.launcher.cells_per_job`)", "",
             "| model | processes | aggregate img/s | per process img/s | cells per device-hour | gain |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['processes']} | {r['aggregate_img_s']:.0f} | {r['per_process_img_s']:.0f} | "
                     f"{r['cells_per_hour']:.2f} | {r['gain']:.2f}x |")
    lines += ["", "A cell: retraining for T = 40 epochs on 50,000 CIFAR-10 images (evaluation not counted). "
              "Each process has its share of the cores (benchmark.launch.packing)."]
    return lines
