"""Hydra entry point: ``python benchmark/run.py [overrides] [mode=plan]``, ``-m`` for sweeps.

The same entry point is ``python -m benchmark.run`` and the console script ``prb-run``, all three
with the suite installed (``make install``: an editable install, so jobs that a launcher starts
import this same checkout). Thin on purpose: compose the config, hand it to ``run_cell`` or
``plan_cell``, and turn bad input into one line on stderr. Everything it calls is a plain,
testable function.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

try:
    from benchmark.errors import ConfigError, exit_on
    from benchmark.schema import register_configs
except ModuleNotFoundError as missing:  # `python benchmark/run.py` from a clone that was never installed
    if missing.name != "benchmark":
        raise
    sys.exit('error: the package benchmark is not installed; run `make install` (pip install -e ".[test,lm]") first')


# An absolute path: Hydra resolves a relative one against the calling module, which for the console
# script is the package (benchmark.run), not this file's folder.
CONF = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONF, config_name="config")
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
        exit_on(error)
    except OSError as error:  # full disk, read-only cache: earlier results stay intact (atomic writes)
        print(f"error: cannot write {error.filename or ''} ({error.strerror or error}); "
              "free space or point paths.cache / hydra.run.dir elsewhere", file=sys.stderr)
        sys.exit(3)
    return record.metrics.get("test_top1")  # absent when the cell diverged


def cli() -> None:
    """The console script ``prb-run`` and ``python -m benchmark.run``: the schemas, then Hydra."""
    register_configs()
    main()


if __name__ == "__main__":
    cli()
