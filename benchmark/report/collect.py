"""Gather cells into one pandas DataFrame, one row per cell, from every place they land.

Three sources give rows of the same shape (config flattened into ``config.*`` columns,
results into ``metrics.*``, ``model.*``, ``status``):

- the suite's own ``record.json`` files (the default, and the most complete);
- local W&B run folders, offline runs included, read with wandb's own
  ``wandb leet inspect --summary --json RUN_DIR`` (run id = cell identity, config =
  the resolved Hydra config, summary = the metrics and ``status``);
- the W&B public API for a team project, selected by ``entity/project`` and group.
  When it cannot be reached (no API key, no network) one line says so and only local
  sources are used; a watchdog keeps it from ever hanging the collector.

The same cell found twice (a rerun, a copy in the cache and in a Hydra folder, a
record and its W&B run) counts once: rows are keyed by the cell identity, preferring
a finished cell, then a ``record.json`` (it carries params and FLOPs, which W&B
summaries do not), then the newest.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterable, List

import pandas as pd

log = logging.getLogger(__name__)
_STATUS_RANK = {"finished": 0, "diverged": 1}
_SOURCE_RANK = {"record": 0, "wandb-local": 1, "wandb-api": 2}
# Columns every source provides (missing values as NaN), so the tables never depend on
# which source a row came from. ``config.*`` columns come from the config itself.
CORE_COLUMNS = [
    "identity.cell", "identity.pruned", "identity.baseline", "name", "comparison", "status",
    "budget_epochs", "steps_per_epoch", "seeds.baseline", "seeds.prune", "seeds.retrain",
    "metrics.test_top1", "metrics.test_top5", "metrics.baseline_test_top1", "metrics.pruned_test_top1",
    "metrics.final_train_loss", "model.params_before", "model.params_after", "model.flops_before",
    "model.flops_after", "model.sparsity", "diverged.stage", "diverged.epoch", "seconds.baseline", "seconds.prune",
    "seconds.retrain", "seconds.cell", "path", "mtime", "source", "wandb_state",
]
# W&B summary keys with these prefixes map onto record sections; the rest of the
# per-epoch keys (``retrain/lr``, ``baseline/test_top1``, ...) are history, not results.
_SUMMARY_SECTIONS = ("model", "seconds", "diverged")


# What every row needs for its table keys; sections that, when present, must be objects.
_REQUIRED_NAMES = ("dataset", "model", "pruner", "schedule")
_SECTIONS = ("identity", "metrics", "model", "seconds", "seeds", "diverged", "config")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def record_problem(record: Dict[str, Any]) -> str | None:
    """Why a record (from a file or a W&B run) cannot be a row of the tables, or None. A record
    without ``config`` is a foreign file or one from an older version; a running or failed
    record is fine (it is listed apart), a finished one must carry its accuracies."""
    config = record.get("config")
    if not isinstance(config, dict) or not config:
        return "no config: a foreign file, a W&B run that never started, or a record of an older version"
    bad = [k for k in _SECTIONS if k in record and record[k] is not None and not isinstance(record[k], dict)]
    if bad:
        return f"{', '.join(bad)} not an object"
    missing = [f"config.{k}.name" for k in _REQUIRED_NAMES
               if not isinstance(config.get(k), dict) or not isinstance(config[k].get("name"), str)]
    if missing:
        return f"no {', '.join(missing)}"
    if not isinstance(record.get("status", "incomplete"), str):
        return "status is not a string"
    metrics = record.get("metrics") or {}
    # The headline metric of the record's task (accuracy, or perplexity for text) and its dense value.
    from benchmark.tasks import dataset_task, task_named

    metric = task_named(dataset_task(config["dataset"]["name"])).metric
    if record.get("status") == "finished" and not (_number(metrics.get(metric)) and _number(metrics.get(f"baseline_{metric}"))):
        return f"finished, but without numeric metrics.{metric} and metrics.baseline_{metric} (a partial record)"
    return None


def usable(records: Iterable[dict], skipped: List[str]) -> List[dict]:
    """The records that can be rows; each other one is skipped with a warning naming its file,
    and its path and reason are appended to ``skipped``."""
    kept = []
    for record in records:
        reason = record_problem(record)
        if reason is None:
            kept.append(record)
        else:
            log.warning("skipping %s: %s", record.get("path"), reason)
            skipped.append(f"{record.get('path')}: {reason}")
    return kept


# --- record.json ------------------------------------------------------------------------

def find_records(roots: Iterable[Path]) -> List[Path]:
    """Every ``record.json`` under the given folders (or the files themselves)."""
    found: List[Path] = []
    for root in map(Path, roots):
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            found.extend(sorted(root.rglob("record.json")))
    return found


def _read(path: Path, skipped: List[str] | None = None) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        reason = f"unreadable ({type(error).__name__})"
    else:
        reason = None if isinstance(record, dict) else "not a cell record (not a JSON object)"
    if reason is not None:
        log.warning("skipping %s: %s", path, reason)
        if skipped is not None:
            skipped.append(f"{path}: {reason}")
        return None
    if record.get("budget_epochs") is None and isinstance(record.get("config"), dict):  # an older record
        record["budget_epochs"] = _budget_epochs(record["config"])
    record.pop("history", None)  # per-epoch rows stay in the record, not in the table
    # The environment stays: ``environment.*`` columns (commit, packages, device) for the report.
    record.update(path=str(path), mtime=path.stat().st_mtime, source="record")
    return record


# --- W&B: one run as a record ----------------------------------------------------------

def _budget_epochs(config: Dict[str, Any]) -> int | None:
    """T from the run's config, through the one function that converts budget units."""
    from benchmark.errors import ConfigError
    from benchmark.retraining.schedules import retrain_epochs

    from benchmark.retraining.schema import BudgetConf, RecipeConf

    budget, recipe = config.get("budget") or {}, config.get("recipe") or {}
    try:
        return retrain_epochs(BudgetConf(epochs=budget.get("epochs"), fraction=budget.get("fraction")),
                              RecipeConf(epochs=recipe.get("epochs")))
    except (ConfigError, TypeError, AttributeError):
        return None


def _comparison(config: Dict[str, Any], epochs: int | None) -> str | None:
    from benchmark.identity import comparison_key

    names = [(config.get(group) or {}).get("name") for group in ("dataset", "model", "pruner")]
    return None if None in names else comparison_key(*names, epochs)


def wandb_record(run_id: str, name: str | None, group: str | None, config: Dict[str, Any],
                 summary: Dict[str, Any], state: str | None, path: str, mtime: float, source: str) -> dict:
    """A W&B run (id, config, summary) in the shape of a ``record.json``."""
    config = {k: v for k, v in config.items() if not k.startswith("_")}  # wandb's own keys
    epochs = _budget_epochs(config)
    record: Dict[str, Any] = {
        "identity": {"cell": run_id}, "name": name, "comparison": group or _comparison(config, epochs),
        "config": config, "seeds": config.get("seed") or {}, "budget_epochs": epochs,
        "metrics": {}, "path": path, "mtime": mtime, "source": source, "wandb_state": state,
    }
    for key, value in summary.items():
        section, _, field = key.partition("/")
        if key == "status":
            continue
        if not field and not key.startswith("_"):
            record["metrics"][key] = value
        elif field and section in _SUMMARY_SECTIONS:
            record.setdefault(section, {})[field] = value
    # A run without a status never reached the cell's summary: it failed or is running.
    record["status"] = summary.get("status") or ("running" if state == "running" else "incomplete")
    return record


def find_wandb_runs(roots: Iterable[Path]) -> List[Path]:
    """Every W&B run folder (one holding a ``run-*.wandb`` log) under the given folders."""
    found = set()
    for root in map(Path, roots):
        candidates = [root] if root.is_file() else sorted(root.rglob("run-*.wandb")) if root.is_dir() else []
        found.update(p.parent for p in candidates if p.suffix == ".wandb")
    return sorted(found)


def inspect_run(run_dir: Path, timeout: float = 120.0) -> dict | None:
    """``wandb leet inspect --summary --json RUN_DIR`` as a record, or None if unreadable."""
    command = [sys.executable, "-m", "wandb", "leet", "inspect", "--summary", "--json", str(run_dir)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        run = json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError) as error:
        log.warning("skipping unreadable W&B run %s (%s)", run_dir, type(error).__name__)
        return None
    logs = sorted(Path(run_dir).glob("run-*.wandb"))
    mtime = logs[0].stat().st_mtime if logs else 0.0
    return wandb_record(run.get("run_id", ""), run.get("name"), run.get("group"), run.get("config") or {},
                        run.get("summary") or {}, run.get("state"), str(run_dir), mtime, "wandb-local")


def read_wandb_dirs(roots: Iterable[Path], workers: int = 4, skip: Iterable[str] = ()) -> List[dict]:
    """Records of every local W&B run under ``roots`` except the cell ids in ``skip``; the
    CLI calls (about half a second each) run concurrently."""
    skip = {f"run-{cell}.wandb" for cell in skip}
    runs = [run for run in find_wandb_runs(roots) if not any(p.name in skip for p in run.glob("run-*.wandb"))]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [r for r in pool.map(inspect_run, runs) if r is not None and r["identity"]["cell"]]


def _api_record(run: Any) -> dict:
    stamp = getattr(run, "heartbeatAt", None) or getattr(run, "createdAt", None)
    mtime = pd.Timestamp(stamp).timestamp() if stamp else 0.0
    summary = dict(getattr(run, "summary_metrics", None) or {})
    return wandb_record(run.id, run.name, getattr(run, "group", None), dict(run.config), summary,
                        run.state, getattr(run, "url", ""), mtime, "wandb-api")


def read_wandb_api(project: str, group: str | None = None, timeout: float = 60.0) -> List[dict]:
    """Records of the runs of ``entity/project`` (in ``group``), or [] with one line saying
    why when the API cannot be reached within ``timeout`` seconds."""
    result: Dict[str, Any] = {}

    def fetch() -> None:
        try:
            import wandb

            runs = wandb.Api(timeout=20).runs(project, filters={"group": group} if group else {})
            result["records"] = [_api_record(run) for run in runs]
        except Exception as error:  # any failure of a remote service means: use local data
            result["error"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"

    worker = threading.Thread(target=fetch, daemon=True)  # daemon: a stuck request never blocks exit
    worker.start()
    worker.join(timeout)
    if "records" in result:
        return result["records"]
    why = result.get("error", f"no answer within {timeout:g} s")
    print(f"W&B API not reachable for {project} ({why}); using local runs only", file=sys.stderr)
    return []


# --- one frame --------------------------------------------------------------------------

def frame_of(records: List[dict]) -> pd.DataFrame:
    """Records of any source as one frame: flattened, core columns present, one row per cell."""
    if not records:
        return pd.DataFrame()
    frame = pd.json_normalize(records)
    for column in CORE_COLUMNS:
        if column not in frame:
            frame[column] = None
    frame["status"] = frame["status"].fillna("incomplete")
    # A record without an identity is its own cell (keyed by its path), never merged with others.
    frame["identity.cell"] = frame["identity.cell"].fillna(frame["path"])
    rank = frame["status"].map(_STATUS_RANK).fillna(2)
    source = frame["source"].map(_SOURCE_RANK).fillna(3)
    frame = frame.assign(_rank=rank, _source=source)
    frame = frame.sort_values(["_rank", "_source", "mtime"], ascending=[True, True, False], kind="stable")
    frame = frame.drop_duplicates("identity.cell", keep="first").drop(columns=["_rank", "_source"])
    return frame.reset_index(drop=True)


def collect(roots: Iterable[Path], wandb_dirs: Iterable[Path] = (), wandb_project: str | None = None,
            wandb_group: str | None = None) -> pd.DataFrame:
    """One row per distinct cell identity from records, local W&B runs and the W&B API.
    What cannot be a row is skipped with a warning; ``frame.attrs["skipped"]`` lists it
    (path: reason), so a caller can tell "nothing found" from "nothing readable"."""
    skipped: List[str] = []
    records = usable([r for r in (_read(p, skipped) for p in find_records(roots)) if r is not None], skipped)
    # A finished record wins over its cell's W&B run anyway: no need to inspect that run.
    finished = [r["identity"]["cell"] for r in records if r.get("status") == "finished"
                and isinstance(r.get("identity"), dict) and r["identity"].get("cell")]
    found = read_wandb_dirs(wandb_dirs, skip=finished)
    if wandb_project:
        found += read_wandb_api(wandb_project, wandb_group)
    frame = frame_of(records + usable(found, skipped))
    frame.attrs["skipped"] = skipped
    return frame
