"""Hydra callbacks: a writable-output check, and the cost of a whole sweep before launch.

``OutputCheck`` makes sure the run (or sweep) folder can be written before Hydra creates
it, so a read-only or misplaced output folder is one line, not a traceback.

With ``-m ... mode=plan`` every job returns its plan; ``PlanSummary`` adds them up at the
end of the sweep: how many cells there are and how many already finished, which
baselines and pruned models are still to compute (each counted once however many cells
share it), the epochs left to train, and the images they process with the GPU-hours
(estimated) and CPU-hours (measured) that takes (:mod:`benchmark.tasks.image_cost`; language models:
GPU-hours from FLOPs, :mod:`benchmark.tasks.text_cost`). Job returns only reach this process with a
launcher that runs jobs in it (the default basic launcher), which is how plans are run.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from benchmark.tasks.image_cost import cell_work, describe_hours, sweep_hours

log = logging.getLogger(__name__)


def _first(plans: List[Dict[str, Any]], stage: str) -> Dict[str, Dict[str, Any]]:
    """One plan per distinct identity of ``stage`` still to compute: a stage shared by many cells counts once."""
    return {p["identity"][stage]: p for p in reversed(plans) if not p["cached"][stage]}


def summarise(plans: List[Dict[str, Any]]) -> Dict[str, int]:
    """Totals over plans: unique stages still to compute and the epochs they will train."""
    baselines, pruned, cells = (_first(plans, stage) for stage in ("baseline", "pruned", "cell"))
    unique = {p["identity"]["cell"] for p in plans}
    totals = {
        "cells": len(unique),
        "cells_finished": len(unique) - len(cells),
        "baselines_to_train": len(baselines),
        "pruned_models_to_compute": len(pruned),
        "epochs_to_train": sum(p["baseline_epochs"] for p in baselines.values())
        + sum(p["budget_epochs"] * p["rounds"] for p in cells.values()),
    }
    flops_priced = [p for p in plans if "gpu_hours" in p]  # language models (benchmark.tasks.text_cost): each stage once
    if flops_priced:
        stages = {(s, p["identity"][s]): p["gpu_hours"][s] for p in flops_priced for s in ("baseline", "pruned", "cell")
                  if not p["cached"][s]}
        totals["gpu_hours_estimated"] = round(sum(stages.values()), 2)
    return totals


def hours(plans: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The images those unique stages process, and the GPU- and CPU-hours they take
    (:mod:`benchmark.tasks.image_cost`: the GPU rates are estimates, the CPU ones measured)."""
    work = [w for stage in ("baseline", "pruned", "cell") for p in _first(plans, stage).values()
            for w in cell_work(p, **{s: s == stage for s in ("baseline", "pruned", "cell")})]
    return sweep_hours(work)


class PlanSummary(Callback):
    def __init__(self) -> None:
        self.plans: List[Dict[str, Any]] = []

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.plans = []

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if job_return.status != JobStatus.COMPLETED:
            return
        value = job_return.return_value
        if isinstance(value, dict) and "cached" in value:
            self.plans.append(value)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.plans:
            return
        totals = summarise(self.plans)
        priced = [p for p in self.plans if "throughput" in p]  # image cells: hours from images per second
        print("sweep plan: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in totals.items())
              + (", " + describe_hours(hours(priced)) if priced else ""), flush=True)


def _ensure_writable(folder: str) -> None:
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        print(f"error: cannot write the output folder {path} ({error.strerror or error}); "
              "set hydra.run.dir / hydra.sweep.dir to a writable place", file=sys.stderr)
        sys.exit(3)


class OutputCheck(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _ensure_writable(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _ensure_writable(config.hydra.sweep.dir)
