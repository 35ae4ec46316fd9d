"""Artefact I/O: atomic writes, checkpoints, JSON and the stage locks.

Everything the suite leaves on disk goes through :func:`atomic_write`, so a reader (or a
run restarted after a kill) sees the old file or the new one, never half of one. Under
DDP only rank 0 writes: callers pass ``enabled=distributed.is_main()`` explicitly.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import torch

log = logging.getLogger(__name__)


def atomic_write(path: Path, write: Callable[[Path], None], *, enabled: bool = True) -> None:
    """Let ``write`` fill a temporary file, then rename it over ``path``; nothing when not ``enabled``
    (a DDP rank other than 0)."""
    if not enabled:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_save(obj: Any, path: Path, *, enabled: bool = True) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp), enabled=enabled)


def write_json(obj: Dict[str, Any], path: Path, *, enabled: bool = True) -> None:
    """Indented JSON through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n"), enabled=enabled)


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    """A JSON object, or None when the file is missing, unreadable or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def load_checkpoint(path: Path) -> Optional[Dict[str, Any]]:
    """A checkpoint, or None when there is none or it is truncated or corrupt (logged)."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a torn or foreign file: recompute rather than crash
        log.warning("ignoring unreadable checkpoint %s (%s); starting that stage again", path, type(error).__name__)
        return None


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold ``folder/.lock`` exclusively; blocks while another process computes the stage.
    The kernel releases the lock of a process that dies."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process computing %s", folder.name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
