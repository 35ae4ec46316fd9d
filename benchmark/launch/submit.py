"""Enter a pruning criterion into the leaderboard: ``python -m benchmark.launch.submit OVERRIDES...``.

``OVERRIDES`` name the entry's pruner as on any command line (``pruner=torch_pruning
pruner.importance._target_=torch_pruning.importance.LAMPImportance``, or ``pruner=custom
pruner.function=examples.leaderboard_entry:bn_weighted_l1``) plus where the data and artefacts
live (``dataset.root=...``, ``paths.cache=...``). In order, and stopping with one line (exit 2) at
the first that fails:

1. the overrides leave the schedules, the budget and the seeds alone: the leaderboard fixes them;
2. there are shipped records to enter (``--records``); the common FLOPs target is the one they name;
3. the entry removes that share of the FLOPs within :data:`benchmark.report.board.TOLERANCE`
   points, measured by pruning the dense network as initialised, before anything trains. A filter
   pruner or Torch-Pruning importance reaches it by the preset's rule, one uniform ratio found by
   bisection (``pruner.target_reduction`` is set to the board's); a user's callable
   (``pruner=custom``) cannot be steered by a ratio, so it must remove that share itself and is
   only checked;
4. its baselines are the leaderboard's: the baseline identity of every seed, and T, equal the
   shipped records' (same dataset, model, recipe, seeds and precision);
5. then only the entry's cells run: the preset's schedules x seeds, through ``benchmark/run.py -m``
   (baselines come from the artefact cache, every other criterion from the shipped records);
6. it prints the entry's rank under each column and the updated tau table, and with ``--out``
   writes the updated leaderboard there (:mod:`benchmark.report.leaderboard`).

docs/leaderboard.md gives the rules of a fair entry.
"""

from __future__ import annotations

import argparse
import copy
import logging
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pandas as pd
import torch
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from benchmark.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
PRESET = "leaderboard_small"
FIXED = ("schedule", "budget", "seed", "hydra.sweeper")  # what every entry shares: not the entry's to set
TARGET_METRIC = "flops"  # what the common target measures (the board checks the records' FLOPs)


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def check_overrides(overrides: Sequence[str]) -> None:
    """An entry sets its pruner and where things live; the schedules, budget and seeds are the board's."""
    fixed = [o for o in overrides if any(_key(o) == k or _key(o).startswith(k + ".") for k in FIXED)]
    if fixed:
        raise ConfigError(f"{' '.join(fixed)}: the leaderboard fixes the schedules, the budget and the seeds; "
                          "an entry sets only its pruner (and dataset.root, paths.cache, device, ...)")


def compose(preset: str, overrides: Sequence[str], hydra_node: bool = False):
    """The preset with ``overrides``; with ``hydra_node``, Hydra's own node too (its sweep: schedules, seeds)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from benchmark.schema import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
            return hydra_compose(config_name="config", overrides=[f"+experiment={preset}", *overrides],
                                 return_hydra_config=hydra_node)
    except (HydraException, OmegaConfBaseException) as error:  # a misspelt key or option: one line, as run.py's
        raise ConfigError(f"{' '.join(overrides)}: {str(error).splitlines()[0]}") from None


def typed(preset: str, overrides: Sequence[str]):
    """The cell's config as the schema's dataclasses, as run.py hands it on."""
    return OmegaConf.to_object(compose(preset, overrides))


def entry_overrides(preset: str, overrides: Sequence[str], target: float) -> List[str]:
    """The overrides, plus the board's target: a filter pruner or Torch-Pruning importance reaches it
    by the preset's rule (its ratio bisected) unless the entry sets ``pruner.target_reduction``
    itself; a user's callable cannot be steered by a ratio, so it must reach the target on its own
    (``pruner.target_reduction=null``; it is checked like every entry)."""
    from benchmark.pruning.spec import EXTERNAL

    cfg = compose(preset, overrides)
    if cfg.pruner.name in EXTERNAL:
        return [*overrides, "pruner.target_reduction=null"] if cfg.pruner.target_reduction is not None else list(overrides)
    if any(_key(o) == "pruner.target_reduction" for o in overrides):
        return list(overrides)
    return [*overrides, f"pruner.target_reduction={target:g}", f"pruner.target_metric={TARGET_METRIC}"]


def removed(cfg) -> float:
    """The share of the FLOPs (one image) the entry's pruner removes from the dense network as initialised."""
    from benchmark import pruning
    from benchmark.tasks import image
    from benchmark.data import image_size
    from benchmark.pruning.counting import count_macs

    size = image_size(cfg.dataset)
    model = image.dense_model(cfg, torch.device("cpu"))
    spec = image.pruning_spec(cfg, model)  # a target reduction becomes its ratio here, as in the cell
    generator = torch.Generator().manual_seed(0)
    batch = [(torch.randn(16, 3, size, size, generator=generator),
              torch.randint(0, cfg.dataset.num_classes, (16,), generator=generator))] * 2
    pruned = copy.deepcopy(model)
    pruning.prune(pruned, spec, cfg.seed.prune, lambda: iter(batch), image_size=size)
    return 1.0 - count_macs(pruned, size) / count_macs(model, size)


def check_target(cfg, target: float) -> float:
    """The entry's FLOPs reduction, or a one-line refusal when it misses ``target`` by more than the tolerance."""
    from benchmark.report.board import TOLERANCE

    share = removed(cfg)
    if abs(100.0 * (share - target)) > TOLERANCE:
        raise ConfigError(f"the entry removes {100 * share:.2f}% of the flops; the leaderboard's target is "
                          f"{100 * target:.2f}% ± {TOLERANCE:g} point: change the entry's amount (pruner.ratio, "
                          "pruner.target_reduction or its own kwargs), not the target")
    return share


def sweep(hydra_cfg) -> Dict[str, str]:
    """The preset's schedules and seeds, as its sweep lists them."""
    params = hydra_cfg.hydra.sweeper.params or {}
    return {key: str(params[key]) for key in ("schedule", "seed.retrain")}


def shipped_records(records: Path) -> pd.DataFrame:
    """The finished cells of the leaderboard being entered; a one-line refusal when there are none."""
    from benchmark.report.collect import collect

    frame = collect([records])
    finished = frame[frame["status"] == "finished"] if not frame.empty else frame
    if finished.empty:
        raise ConfigError(f"no leaderboard records under {records}: run `make leaderboard` first, or pass --records")
    return finished


def board_target(shipped: pd.DataFrame, preset: str) -> float:
    """The common FLOPs target as a fraction: the one the shipped records name, else the preset's."""
    from benchmark.report.board import common_target

    named = common_target(shipped)
    if named is not None:
        return named / 100.0
    target = compose(preset, []).pruner.target_reduction
    if target is None:
        raise ConfigError(f"neither the records nor +experiment={preset} name a FLOPs target: no leaderboard to enter")
    return float(target)


def check_baselines(preset: str, overrides: Sequence[str], seeds: str, shipped: pd.DataFrame) -> None:
    """Every seed's baseline identity and the budget T equal the shipped records'."""
    from benchmark.cell import validate
    from benchmark.tasks import cell_identity

    for seed in seeds.split(","):
        cfg = typed(preset, [*overrides, f"seed.retrain={seed}"])
        epochs = validate(cfg)
        mine = shipped[pd.to_numeric(shipped["seeds.retrain"], errors="coerce") == int(seed)]
        theirs = sorted(set(mine["identity.baseline"].dropna()))
        if theirs != [cell_identity(cfg, epochs).baseline]:
            raise ConfigError(f"seed {seed}: the entry's baseline {cell_identity(cfg, epochs).baseline} is not the "
                              f"leaderboard's ({', '.join(theirs) or 'none recorded'}): an entry keeps the dataset, "
                              "model, recipe, seeds and precision of the records it enters")
        if set(mine["budget_epochs"].dropna().astype(int)) != {epochs}:
            raise ConfigError(f"seed {seed}: the entry retrains for T={epochs}; the leaderboard's records for "
                              f"T={sorted(set(mine['budget_epochs'].dropna().astype(int)))}")


def run_cells(preset: str, overrides: Sequence[str], grid: Dict[str, str], sweep_dir: Path) -> None:
    """The entry's cells and no others: the preset's schedules x seeds, its criterion axis replaced by the entry."""
    command = [sys.executable, str(REPO / "benchmark" / "run.py"), "-m", f"+experiment={preset}",
               "hydra.sweeper.params=null", "hydra.sweeper.exclude=[]", "hydra.sweeper.attach=[]", *overrides,
               f"schedule={grid['schedule']}", f"seed.retrain={grid['seed.retrain']}", f"hydra.sweep.dir={sweep_dir}"]
    print("running:", " ".join(command[1:]), flush=True)
    if subprocess.run(command).returncode != 0:
        raise ConfigError(f"the entry's sweep failed (records so far under {sweep_dir})")


def submit(overrides: Sequence[str], records: Path, sweep_dir: Path, out: Optional[Path], preset: str = PRESET,
           check_only: bool = False) -> str:
    """Check, run and rank one entry; return what it prints."""
    from benchmark.report import leaderboard, leaderboard_text
    from benchmark.report.board import criterion_label, load
    from benchmark.report.collect import collect
    from benchmark.report.tables import tidy

    check_overrides(overrides)
    grid = sweep(compose(preset, [], hydra_node=True))
    shipped = shipped_records(records)
    target = board_target(shipped, preset)
    overrides = entry_overrides(preset, overrides, target)
    first = grid["seed.retrain"].split(",")[0]
    share = check_target(typed(preset, [*overrides, f"seed.retrain={first}"]), target)
    print(f"the entry removes {100 * share:.2f}% of the flops (target {100 * target:.2f}% ± 1)", flush=True)
    check_baselines(preset, overrides, grid["seed.retrain"], shipped)
    if check_only:
        return "checked: the entry meets the target and the leaderboard's baselines; nothing trained"
    run_cells(preset, overrides, grid, sweep_dir)
    mine = tidy(collect([sweep_dir]))
    entry = criterion_label(mine.iloc[0]) if not mine.empty else None
    board = load([records, sweep_dir], target=target)
    if out is not None:
        leaderboard.write(board, out, [str(records), str(sweep_dir)])
    return leaderboard_text.entry_summary(board, entry)


def _slug(overrides: Sequence[str]) -> str:
    kept = [o.split("=", 1)[1].rpartition(".")[2].rpartition(":")[2] for o in overrides
            if _key(o) in ("pruner", "pruner.name", "pruner.importance._target_", "pruner.function")]
    return "-".join(kept) or "entry"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="the entry's pruner, e.g. pruner=torch_pruning "
                        "pruner.importance._target_=torch_pruning.importance.LAMPImportance")
    parser.add_argument("--records", default="results/leaderboard/records", help="the shipped leaderboard's records")
    parser.add_argument("--sweep-dir", default=None, help="where the entry's cells go (outputs/leaderboard_entries/<entry>)")
    parser.add_argument("--out", default=None, help="write the updated leaderboard (tables, index.html) here")
    parser.add_argument("--preset", default=PRESET, help="the leaderboard preset (conf/experiment/)")
    parser.add_argument("--check-only", action="store_true", help="check the entry and stop: nothing trains")
    args = parser.parse_intermixed_args(argv)  # overrides and options in any order
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    sweep_dir = Path(args.sweep_dir or f"outputs/leaderboard_entries/{_slug(args.overrides)}")
    try:
        printed = submit(args.overrides, Path(args.records), sweep_dir, Path(args.out) if args.out else None,
                         args.preset, args.check_only)
    except (ConfigError, ValueError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(printed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
