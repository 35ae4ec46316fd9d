"""The fast path's compiled training step: same training as the eager step, eager where it must be."""

from __future__ import annotations

import logging
import os

import pytest
import torch

from benchmark import fastpath
from benchmark.artefacts import load_checkpoint
from benchmark.data import DeviceLoader, synthetic_splits
from benchmark.data.schema import SyntheticDatasetConf
from benchmark.fastpath import TrainingForward, should_compile
from benchmark.models import build_model
from benchmark.models.schema import ModelConf
from benchmark.retraining.schema import OriginalScheduleConf, RecipeConf
from benchmark.train import TrainSettings, train

RECIPE = RecipeConf(epochs=2, batch_size=64, lr=0.05, milestones=[1])


def _tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConf(name="resnet20", width=0.25), 10)


def _loader() -> DeviceLoader:
    split, _ = synthetic_splits(SyntheticDatasetConf(seed=0, train_size=320, test_size=8))
    return DeviceLoader(split, 64, torch.device("cpu"), augment=True, seed=1)


@pytest.mark.compile
@pytest.mark.parametrize("precision,rel,apart", [("fp32", 1e-3, 0.1), ("bf16", 1e-2, 0.3)])
def test_compiled_training_matches_eager_training(tmp_path, precision, rel, apart):
    """Two epochs through torch.compile (about 30 s of compilation on 2 cores) against the same
    two epochs eagerly, at each precision: losses and weights agree to that precision's rounding
    (bf16 keeps 8 bits of mantissa), and the checkpoint holds the plain model's keys, so it loads
    into an uncompiled model."""
    torch.use_deterministic_algorithms(True)
    eager, compiled = _tiny_model(), _tiny_model()
    loader = _loader()
    a = train(eager, loader, epochs=2, schedule=OriginalScheduleConf(), recipe=RECIPE, checkpoint=tmp_path / "eager.pt", desc="eager",
              settings=TrainSettings(progress="off", fast=True, precision=precision, compile_min_steps=-1))
    b = train(compiled, loader, epochs=2, schedule=OriginalScheduleConf(), recipe=RECIPE, checkpoint=tmp_path / "compiled.pt", desc="compiled",
              settings=TrainSettings(progress="off", fast=True, precision=precision, compile_min_steps=0))
    losses = [[row["train_loss"] for row in r.history] for r in (a, b)]
    assert losses[0] == pytest.approx(losses[1], rel=rel)
    # Ten SGD steps amplify rounding differences element-wise; the trajectories agree as a whole:
    # the two end points lie far closer to each other than to where training started (bf16's
    # 8-bit mantissa leaves them further apart: measured 0.15 of the distance travelled).
    flat = [torch.cat([p.detach().flatten() for p in m.parameters()]) for m in (eager, compiled, _tiny_model())]
    assert (flat[0] - flat[1]).norm() < apart * (flat[0] - flat[2]).norm()
    saved = load_checkpoint(tmp_path / "compiled.pt")
    assert set(saved["model"]) == set(eager.state_dict())


def test_a_smaller_last_batch_runs_eagerly(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda module: lambda x: calls.append(len(x)) or module(x))
    model = torch.nn.Linear(4, 2)
    forward = TrainingForward(model, compile=True)
    for n in (8, 8, 3, 8):
        assert forward(torch.ones(n, 4)).shape == (n, 2)
    assert calls == [8, 8, 8]


def test_a_failing_compiler_falls_back_to_the_eager_step_with_one_warning(monkeypatch, caplog):
    def broken(x):
        raise RuntimeError("no C++ compiler\nlong trace")

    monkeypatch.setattr(torch, "compile", lambda module: broken)
    model = torch.nn.Linear(4, 2)
    forward = TrainingForward(model, compile=True)
    x = torch.randn(5, 4)
    with caplog.at_level(logging.WARNING, logger=fastpath.__name__):
        assert torch.equal(forward(x), model(x))
        assert torch.equal(forward(x), model(x))
    assert not forward.compiling
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["torch.compile failed (RuntimeError: no C++ compiler); training eagerly"]


def test_an_error_after_a_successful_compilation_is_not_hidden(monkeypatch):
    state = {"calls": 0}

    def flaky(x):
        state["calls"] += 1
        if state["calls"] > 1:
            raise ValueError("shape mismatch")
        return x

    monkeypatch.setattr(torch, "compile", lambda module: flaky)
    forward = TrainingForward(torch.nn.Identity(), compile=True)
    forward(torch.ones(2, 2))
    with pytest.raises(ValueError, match="shape mismatch"):
        forward(torch.ones(2, 2))


@pytest.mark.parametrize("enabled, steps, min_steps, expected", [
    (True, 2000, 2000, True), (True, 1999, 2000, False), (False, 10**6, 0, False), (True, 0, 0, True),
    (True, 10**6, -1, False),
])
def test_compilation_waits_for_stages_long_enough_to_repay_it(enabled, steps, min_steps, expected):
    assert should_compile(enabled, steps, min_steps) is expected


def test_train_compiles_only_the_stages_that_reach_the_threshold(monkeypatch, tmp_path):
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda module: compiled.append(module) or module)
    loader = _loader()  # 5 steps per epoch
    train(_tiny_model(), loader, epochs=2, schedule=OriginalScheduleConf(), recipe=RECIPE, checkpoint=tmp_path / "a.pt", desc="short",
              settings=TrainSettings(progress="off", fast=True, compile_min_steps=11))
    assert compiled == []
    train(_tiny_model(), loader, epochs=2, schedule=OriginalScheduleConf(), recipe=RECIPE, checkpoint=tmp_path / "b.pt", desc="long enough",
              settings=TrainSettings(progress="off", fast=True, compile_min_steps=10))
    assert len(compiled) == 1
    train(_tiny_model(), loader, epochs=2, schedule=OriginalScheduleConf(), recipe=RECIPE, checkpoint=tmp_path / "c.pt", desc="off",
              settings=TrainSettings(progress="off", fast=False, compile_min_steps=0))
    assert len(compiled) == 1


def test_the_cpu_backend_keeps_threads_to_the_cores_and_freed_memory_on_glibc(monkeypatch):
    import platform

    from benchmark import device as seeding

    kept = []
    monkeypatch.setattr(seeding, "keep_freed_memory", lambda: kept.append(True) or True)
    before = torch.get_num_threads()
    try:
        seeding.configure_backend(torch.device("cpu"), deterministic=False)
        assert torch.get_num_threads() == len(os.sched_getaffinity(0))
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(False)
    assert kept == [True]
    monkeypatch.undo()
    # mallopt refuses values it cannot take (returns 0): both settings must be accepted on glibc.
    assert seeding.keep_freed_memory() is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")

