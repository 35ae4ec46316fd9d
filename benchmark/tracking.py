"""Weights & Biases logging for one cell, which never blocks a run without network.

``wandb.mode: auto`` resolves to ``$WANDB_MODE`` when set, ``online`` when an API key is
present, and ``offline`` otherwise, so a laptop or CI run writes a local run folder
(readable later with ``wandb leet inspect``) and never waits on a server. wandb is
imported only when a run is actually opened.

W&B mirrors the cell; ``record.json`` is the result. So W&B may never decide a cell's
outcome: an online run that cannot reach its server within ``wandb.init_timeout`` falls
back to an offline run of the same id (``wandb sync`` uploads it later), and a W&B
service that stops answering mid-cell ends the logging, not the cell. This matters most on
preemption: Slurm's requeue sends SIGTERM to every process of the job, W&B's service
process included, while submitit's handler unwinds the cell with ``SystemExit``; finishing
the run then fails (``MailboxClosedError``), and had that error replaced the ``SystemExit``
it would have become the job's result and failed the sweep. The run id is the cell identity
and ``resume="allow"``, so the requeued job continues the same run.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

from benchmark.errors import ConfigError
from benchmark.fields import POSITIVE, ranged

WANDB_MODES = ("auto", "online", "offline", "disabled")  # resolve_mode turns auto into one of the others


@dataclass
class WandbConf:
    """Weights & Biases logging (the ``wandb`` section); ``mode: auto`` is offline unless an API key is set."""

    mode: str = ranged("auto", choices=WANDB_MODES)  # auto | online | offline | disabled
    project: str = "pruning-retraining-benchmark"
    entity: Optional[str] = None
    init_timeout: float = ranged(60.0, **POSITIVE)  # seconds an online run waits for the server, then logs offline (same id)


log = logging.getLogger(__name__)


def resolve_mode(mode: str) -> str:
    if mode not in WANDB_MODES:
        raise ConfigError(f"wandb.mode={mode!r} is not one of: {', '.join(WANDB_MODES)}")
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


class Tracker:
    """A thin handle over a W&B run, or a no-op when logging is disabled. A W&B call that
    fails (its service died or hangs up) is logged once and ends the tracking, never the cell."""

    def __init__(self, run: Optional[Any] = None) -> None:
        self.run = run

    def _call(self, action: Callable[[Any], Any]) -> None:
        if self.run is None:
            return
        try:
            action(self.run)
        except Exception as error:  # noqa: BLE001 - W&B is a mirror; record.json stays complete
            log.warning("W&B stopped answering (%s: %s); logging ends, the cell goes on", type(error).__name__, error)
            self.run = None

    def log(self, metrics: Dict[str, Any]) -> None:
        self._call(lambda run: run.log(metrics))

    def summarise(self, summary: Dict[str, Any]) -> None:
        self._call(lambda run: run.summary.update(summary))

    def close(self, exit_code: Optional[int]) -> None:
        """Finish the run; ``None`` means interrupted (preempted, timed out, killed): the run
        is marked preempting, so W&B shows it as such until the requeued job resumes it."""
        if exit_code is None:
            self._call(lambda run: run.mark_preempting())
        self._call(lambda run: run.finish(exit_code=1 if exit_code is None else exit_code))
        self.run = None


def _init(wandb: Any, wandb_cfg: Any, mode: str, **run: Any) -> Any:
    settings = wandb.Settings(console="off", silent=True, init_timeout=float(wandb_cfg.init_timeout))
    return wandb.init(project=wandb_cfg.project, entity=wandb_cfg.entity, mode=mode, resume="allow",
                      reinit="finish_previous", settings=settings, **run)


def _open(wandb: Any, wandb_cfg: Any, mode: str, **run: Any) -> Optional[Any]:
    """The W&B run, offline when online cannot reach the server; None when W&B cannot start."""
    try:
        return _init(wandb, wandb_cfg, mode, **run)
    except Exception as error:  # noqa: BLE001 - no network, no server, a refused key
        log.warning("W&B %s run could not start (%s: %s)%s", mode, type(error).__name__, error,
                    "; logging offline under the same id instead" if mode == "online" else "")
    _teardown(wandb)  # the failed attempt holds the run id in the W&B service
    if mode == "online":
        try:
            return _init(wandb, wandb_cfg, "offline", **run)
        except Exception as error:  # noqa: BLE001
            log.warning("W&B offline run could not start either (%s); this cell logs to record.json only", error)
            _teardown(wandb)
    return None


def _teardown(wandb: Any) -> None:
    try:
        wandb.teardown()
    except Exception:  # noqa: BLE001 - a service that is already gone
        pass


@contextmanager
def tracked(wandb_cfg: WandbConf, config: Dict[str, Any], name: str, group: str, run_id: str, folder: Path) -> Iterator[Tracker]:
    """Open a W&B run named after the cell, with its id derived from the cell identity so a
    requeued job continues the same run; finish it however the cell ends, without letting W&B
    replace the cell's own outcome (an exception, or submitit's ``SystemExit`` on preemption)."""
    mode = resolve_mode(wandb_cfg.mode)
    if mode == "disabled":
        yield Tracker()
        return
    import wandb

    folder.mkdir(parents=True, exist_ok=True)
    run = _open(wandb, wandb_cfg, mode, name=name, group=group, id=run_id, config=config, dir=str(folder))
    tracker = Tracker(run)
    if run is not None:
        for stage in ("baseline", "retrain"):
            tracker._call(lambda r, stage=stage: r.define_metric(f"{stage}/*", step_metric=f"{stage}/epoch"))
    exit_code: Optional[int] = 1
    try:
        yield tracker
        exit_code = 0
    except Exception:
        raise
    except BaseException:  # SystemExit from a preemption handler, KeyboardInterrupt: to be resumed
        exit_code = None
        raise
    finally:
        tracker.close(exit_code)
        if exit_code is None:
            _teardown(wandb)  # the process is ending: no traceback from W&B's atexit hook either
