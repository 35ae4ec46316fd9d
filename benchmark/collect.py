"""Gather cell records (``record.json``) into one pandas DataFrame, one row per cell.

The same cell found twice (a rerun, a copy in the cache and in a Hydra folder) counts
once: rows are keyed by the cell identity, preferring a finished record, then the
newest. The configuration is flattened into columns (``config.schedule.name``, ...).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable, List

import pandas as pd

log = logging.getLogger(__name__)
_STATUS_RANK = {"finished": 0, "diverged": 1}


def find_records(roots: Iterable[Path]) -> List[Path]:
    """Every ``record.json`` under the given folders (or the files themselves)."""
    found: List[Path] = []
    for root in map(Path, roots):
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            found.extend(sorted(root.rglob("record.json")))
    return found


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        log.warning("skipping unreadable record %s (%s)", path, type(error).__name__)
        return None
    record.pop("history", None)  # per-epoch rows stay in the record, not in the table
    record.pop("environment", None)
    record["path"] = str(path)
    record["mtime"] = path.stat().st_mtime
    return record


def collect(roots: Iterable[Path]) -> pd.DataFrame:
    """One row per distinct cell identity, config and results flattened into columns."""
    records = [r for r in map(_read, find_records(roots)) if r is not None]
    if not records:
        return pd.DataFrame()
    frame = pd.json_normalize(records)
    frame["status_rank"] = frame["status"].map(_STATUS_RANK).fillna(2)
    frame = frame.sort_values(["status_rank", "mtime"], ascending=[True, False])
    frame = frame.drop_duplicates("identity.cell", keep="first").drop(columns="status_rank")
    return frame.reset_index(drop=True)
