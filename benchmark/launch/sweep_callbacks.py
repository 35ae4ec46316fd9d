"""Hydra callbacks: a writable-output check, and the cost of a whole sweep before launch.

``OutputCheck`` makes sure the run (or sweep) folder can be written before Hydra creates
it, so a read-only or misplaced output folder is one line, not a traceback.

With ``-m ... mode=plan`` every job returns its plan; ``PlanSummary`` adds them up at the
end of the sweep: how many cells there are and how many already finished, which
baselines and pruned models are still to compute (each counted once however many cells
share it), and the epochs left to train. Job returns only reach this process with a
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

log = logging.getLogger(__name__)


def summarise(plans: List[Dict[str, Any]]) -> Dict[str, int]:
    """Totals over plans: unique stages still to compute and the epochs they will train."""
    baselines = {p["identity"]["baseline"]: p["baseline_epochs"] for p in plans if not p["cached"]["baseline"]}
    pruned = {p["identity"]["pruned"] for p in plans if not p["cached"]["pruned"]}
    cells = {p["identity"]["cell"]: p["budget_epochs"] * p["rounds"] for p in plans if not p["cached"]["cell"]}
    unique = {p["identity"]["cell"] for p in plans}
    totals = {
        "cells": len(unique),
        "cells_finished": len(unique) - len(cells),
        "baselines_to_train": len(baselines),
        "pruned_models_to_compute": len(pruned),
        "epochs_to_train": sum(baselines.values()) + sum(cells.values()),
    }
    if all("gpu_hours" in p for p in plans):  # language models (benchmark/lm/plan.py): each stage counted once
        stages = {(s, p["identity"][s]): p["gpu_hours"][s] for p in plans for s in ("baseline", "pruned", "cell")
                  if not p["cached"][s]}
        totals["gpu_hours_estimated"] = round(sum(stages.values()), 2)
    return totals


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
        print("sweep plan: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in totals.items()), flush=True)


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
