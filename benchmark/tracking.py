"""Weights & Biases logging for one cell, which never blocks a run without network.

``wandb.mode: auto`` resolves to ``$WANDB_MODE`` when set, ``online`` when an API key is
present, and ``offline`` otherwise, so a laptop or CI run writes a local run folder
(readable later with ``wandb leet inspect``) and never waits on a server. wandb is
imported only when a run is actually opened.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from benchmark.errors import ConfigError
from benchmark.schema import WandbConf

MODES = ("auto", "online", "offline", "disabled")


def resolve_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"wandb.mode={mode!r} is not one of: {', '.join(MODES)}")
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


class Tracker:
    """A thin handle over a W&B run, or a no-op when logging is disabled."""

    def __init__(self, run: Optional[Any] = None) -> None:
        self.run = run

    def log(self, metrics: Dict[str, Any]) -> None:
        if self.run is not None:
            self.run.log(metrics)

    def summarise(self, summary: Dict[str, Any]) -> None:
        if self.run is not None:
            self.run.summary.update(summary)


@contextmanager
def tracked(wandb_cfg: WandbConf, config: Dict[str, Any], name: str, group: str, run_id: str, folder: Path) -> Iterator[Tracker]:
    """Open a W&B run named after the cell, with its id derived from the cell identity so a
    requeued job continues the same run; finish it even when the cell fails."""
    mode = resolve_mode(wandb_cfg.mode)
    if mode == "disabled":
        yield Tracker()
        return
    import wandb

    folder.mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=wandb_cfg.project,
        entity=wandb_cfg.entity,
        name=name,
        group=group,
        id=run_id,
        resume="allow",
        config=config,
        dir=str(folder),
        mode=mode,
        reinit="finish_previous",
        settings=wandb.Settings(console="off", silent=True),
    )
    for stage in ("baseline", "retrain"):
        run.define_metric(f"{stage}/*", step_metric=f"{stage}/epoch")
    failed = True
    try:
        yield Tracker(run)
        failed = False
    finally:
        run.finish(exit_code=1 if failed else 0)
