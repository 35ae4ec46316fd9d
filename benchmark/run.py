"""Hydra entry point: ``python benchmark/run.py [overrides] [mode=plan]``, ``-m`` for sweeps.

Thin on purpose: compose the config, hand it to ``run_cell`` or ``plan_cell``, and turn
bad input into one line on stderr. Everything it calls is a plain, testable function.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# `python benchmark/run.py` puts benchmark/ itself first on sys.path, where modules
# such as `data` would shadow installed packages; the repository root goes there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
# Jobs a launcher starts (submitit, Slurm) import this same checkout, not another install.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_HERE.parent), os.environ.get("PYTHONPATH")]))

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from benchmark.errors import ConfigError  # noqa: E402
from benchmark.schema import register_configs  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | dict | None:
    """Run or plan one cell; return its final test top-1 (the sweep's headline metric),
    or in plan mode the plan (which ``benchmark.launch.sweep_callbacks.PlanSummary`` totals over a sweep)."""
    from benchmark.cell import run_cell
    from benchmark.plan import format_plan, plan_cell

    conf = OmegaConf.to_object(cfg)  # the schema's dataclasses, once: every function below is typed
    try:
        if conf.mode == "plan":
            plan = plan_cell(conf)
            print(format_plan(plan, conf.plan.format), flush=True)
            return plan
        if conf.mode != "run":
            raise ConfigError(f"mode={conf.mode!r} is not one of: run, plan")
        record = run_cell(conf, Path(HydraConfig.get().runtime.output_dir))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:  # full disk, read-only cache: earlier results stay intact (atomic writes)
        print(f"error: cannot write {error.filename or ''} ({error.strerror or error}); "
              "free space or point paths.cache / hydra.run.dir elsewhere", file=sys.stderr)
        sys.exit(3)
    return record.metrics.get("test_top1")  # absent when the cell diverged


if __name__ == "__main__":
    register_configs()
    main()
