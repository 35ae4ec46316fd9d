"""Progress bars on a terminal, plain log lines elsewhere (Slurm logs, CI, pipes)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Any, ContextManager, Iterable

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

MODES = ("auto", "bar", "log", "off")


def bars_enabled(mode: str) -> bool:
    """``auto`` shows bars only when stderr is a terminal; ``log`` and ``off`` never do."""
    return mode == "bar" or (mode == "auto" and sys.stderr.isatty())


def bar(iterable: Iterable, mode: str, **kwargs: Any) -> Iterable:
    """``iterable`` wrapped in a tqdm bar when bars are enabled, else unchanged."""
    return tqdm(iterable, dynamic_ncols=True, **kwargs) if bars_enabled(mode) else iterable


def log_through_bars(mode: str) -> ContextManager:
    """While bars are shown, route log lines through tqdm so they print above the bars."""
    return logging_redirect_tqdm() if bars_enabled(mode) else nullcontext()
