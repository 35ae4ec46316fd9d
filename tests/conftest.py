"""Shared fixtures: the real Hydra config, composed and shrunk for the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from benchmark.schema import BenchmarkConf, register_configs

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "conf"

# A cell that trains in about a second: tiny data, a quarter-width ResNet-20, 2 + 2 epochs.
TINY_DATA = ["dataset=synthetic", "dataset.train_size=256", "dataset.test_size=128"]
TINY = [
    "model=resnet20",
    "model.width=0.25",
    "recipe.epochs=2",
    "recipe.milestones=[1]",
    "recipe.batch_size=64",
    "budget.epochs=2",
    "pruner.ratio=0.5",
    "wandb.mode=disabled",
    "progress=off",
    "device=cpu",
]


def compose_dictconfig(overrides: Sequence[str] = ()) -> DictConfig:
    """The real config from conf/ as Hydra composes it for `python benchmark/run.py <overrides>`."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(config_name="config", overrides=list(overrides))


def compose_config(overrides: Sequence[str] = ()) -> BenchmarkConf:
    """The typed config the entry point hands to every function (``OmegaConf.to_object``)."""
    return OmegaConf.to_object(compose_dictconfig(overrides))


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Callable[..., BenchmarkConf]:
    """Compose the tiny cell with extra overrides; its cache lives in this test's tmp_path.
    A ``dataset=...`` override replaces the tiny synthetic data."""

    def make(*overrides: str, cache: Path | None = None) -> BenchmarkConf:
        data = [] if any(o.startswith("dataset=") for o in overrides) else TINY_DATA
        return compose_config([*data, *TINY, f"paths.cache={cache or tmp_path / 'cache'}", *overrides])

    return make
