"""W&B never decides a cell's outcome: preemption's SystemExit survives a dead W&B service,
and an online run without a reachable server logs offline under the same id."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from wandb.sdk.mailbox.mailbox import MailboxClosedError

from benchmark import tracking
from benchmark.tracking import Tracker, tracked


class KillableRun:
    """A run whose W&B service process can be killed, as Slurm's SIGTERM on requeue does."""

    def __init__(self) -> None:
        self.calls, self.dead = [], False

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append(name)
            if self.dead:
                raise MailboxClosedError()

        return call


def fake_wandb(monkeypatch, run):
    module = SimpleNamespace(Settings=lambda **kw: kw, init=lambda **kw: run, teardown=lambda: None)
    monkeypatch.setitem(sys.modules, "wandb", module)


CFG = SimpleNamespace(mode="offline", project="p", entity=None, init_timeout=1.0)


def test_a_preempted_cell_exits_with_systemexit_even_when_wandb_is_gone(monkeypatch, tmp_path):
    run = KillableRun()
    fake_wandb(monkeypatch, run)
    with pytest.raises(SystemExit) as exit_:  # submitit's handler: sys.exit(-1) after the requeue
        with tracked(CFG, {}, "n", "g", "cell-x", tmp_path) as tracker:
            tracker.log({"retrain/epoch": 1})
            run.dead = True
            tracker.log({"retrain/epoch": 2})  # the cell goes on
            raise SystemExit(-1)
    assert exit_.value.code == -1
    assert run.calls == ["define_metric", "define_metric", "log", "log"], "after a failure W&B is not called again"


def test_a_failing_cell_keeps_its_own_error_and_marks_the_run_failed(monkeypatch, tmp_path):
    finished = []
    run = SimpleNamespace(define_metric=lambda *a, **k: None, log=lambda m: None,
                          mark_preempting=lambda: finished.append("preempting"),
                          finish=lambda exit_code: finished.append(exit_code))
    fake_wandb(monkeypatch, run)
    with pytest.raises(ValueError, match="cell"):
        with tracked(CFG, {}, "n", "g", "cell-x", tmp_path):
            raise ValueError("the cell's own error")
    assert finished == [1]
    with pytest.raises(KeyboardInterrupt):
        with tracked(CFG, {}, "n", "g", "cell-x", tmp_path):
            raise KeyboardInterrupt
    assert finished == [1, "preempting", 1]
    with tracked(CFG, {}, "n", "g", "cell-x", tmp_path):
        pass
    assert finished[-1] == 0


def test_disabled_tracking_never_touches_wandb_and_writes_nothing(monkeypatch, tmp_path):
    def refuse(**kwargs):
        raise AssertionError("wandb.init called with wandb.mode=disabled")

    monkeypatch.setitem(sys.modules, "wandb", SimpleNamespace(init=refuse, Settings=refuse, teardown=refuse))
    disabled = SimpleNamespace(mode="disabled", project="p", entity=None, init_timeout=1.0)
    with tracked(disabled, {"a": 1}, "n", "g", "cell-x", tmp_path / "run") as tracker:
        assert isinstance(tracker, Tracker) and tracker.run is None
        tracker.log({"retrain/epoch": 1})
        tracker.summarise({"status": "finished"})
    assert not (tmp_path / "run").exists(), "no W&B folder without W&B"


@pytest.mark.subprocess
def test_online_without_network_logs_offline_under_the_cell_id(monkeypatch, tmp_path):
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.delenv("WANDB_MODE", raising=False)  # CI runs with WANDB_MODE=offline; this test is online
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # a closed port: no server
    online = SimpleNamespace(mode="online", project="p", entity=None, init_timeout=2.0)
    with tracked(online, {"a": 1}, "n", "g", "cell-abc", tmp_path) as tracker:
        assert tracker.run is not None and tracker.run.settings.mode == "offline"
        assert tracker.run.id == "cell-abc"
        tracker.summarise({"status": "finished"})
    assert list((tmp_path / "wandb").glob("offline-run-*-cell-abc/run-cell-abc.wandb"))
    assert tracking.resolve_mode("auto") == "online"
