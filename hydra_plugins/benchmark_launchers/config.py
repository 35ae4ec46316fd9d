"""The packing launchers' schemas and the sweep folders' ``dirname`` resolver, registered when Hydra
discovers its plugins.

Hydra imports every module of the ``hydra_plugins`` namespace package at plugin discovery, before
it composes a config, so ``hydra/launcher=packed_local|packed_slurm`` resolve wherever the suite's
entry point, the tests or the compose API run, just as hydra-submitit-launcher's own
``submitit_local``/``submitit_slurm`` do. Keeping them here, not in ``benchmark/schema.py``, keeps
the suite's base layer free of launcher imports. (No ``from __future__ import annotations``: Hydra
executes plugin modules without registering them in ``sys.modules``, where ``dataclass`` would look
string annotations up.)
"""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra_plugins.benchmark_launchers.dirnames import register_resolvers
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf

_PACKED = "hydra_plugins.benchmark_launchers.packed"


@dataclass
class PackedLocalConf(LocalQueueConf):
    """hydra-submitit-launcher's local launcher, able to pack cells (``packed.py``)."""

    _target_: str = f"{_PACKED}.PackedLocalLauncher"
    cells_per_job: int = 1  # cells trained at once in one job, each in its own process


@dataclass
class PackedSlurmConf(SlurmQueueConf):
    """hydra-submitit-launcher's Slurm launcher, able to pack cells (``packed.py``)."""

    _target_: str = f"{_PACKED}.PackedSlurmLauncher"
    cells_per_job: int = 1  # cells trained at once in one job (on its GPU), each in its own process


ConfigStore.instance().store(group="hydra/launcher", name="packed_local", node=PackedLocalConf, provider="benchmark")
ConfigStore.instance().store(group="hydra/launcher", name="packed_slurm", node=PackedSlurmConf, provider="benchmark")
register_resolvers()  # ${dirname:...} in conf/config.yaml's hydra.sweep.subdir
