"""Data-parallel training across processes (torch.distributed DDP), one place for rank logic.

Processes are started by ``torchrun`` or as several tasks of one Slurm job (``srun``,
``hydra.launcher.tasks_per_node``); :func:`init_from_env` reads either environment and
joins the process group (NCCL on CUDA, gloo on the CPU). Every rank runs the same cell
in lockstep: each takes its slice of every global batch, so the global batch and the
schedule are those of one process; only rank 0 takes locks, writes files and logs to
W&B. BatchNorm statistics stay per rank (SyncBatchNorm has no CPU kernel), so results
match one process within a tolerance, not bit for bit.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any, ContextManager

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def init_from_env(device: torch.device) -> bool:
    """Join the process group when launched as several processes; True when distributed."""
    if world_size() > 1:
        return True
    env = os.environ
    if "WORLD_SIZE" not in env and int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        import submitit  # several tasks of one Slurm job: rank, world and master from Slurm

        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    if int(env.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=int(env["RANK"]), world_size=int(env["WORLD_SIZE"]))
    if device.type == "cuda":
        torch.cuda.set_device(int(env.get("LOCAL_RANK", 0)))
    return True


def local_device(device: torch.device) -> torch.device:
    """Each rank's own GPU when distributed on CUDA."""
    if device.type == "cuda" and world_size() > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def shard(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's slice of a global batch (every ``world``-th sample from ``rank``)."""
    return tensor[rank() :: world_size()] if world_size() > 1 else tensor


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (a no-op in one process)."""
    if world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def wrap(model: torch.nn.Module) -> Any:
    """The model as DDP when distributed, else unchanged."""
    if world_size() > 1:
        return torch.nn.parallel.DistributedDataParallel(model)
    return model


def main_only(context: ContextManager) -> ContextManager:
    """``context`` on rank 0, a no-op elsewhere (locks, for instance)."""
    return context if is_main() else nullcontext()
