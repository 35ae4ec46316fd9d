"""The one place where global random state and backend settings are set."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from benchmark.errors import ConfigError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) from one number."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; a missing CUDA fails in one line."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device={name!r} is not a torch device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name} requested but CUDA is not available on this machine")
    return device


def configure_backend(device: torch.device, deterministic: bool) -> None:
    """Threads to the cores on the CPU; deterministic kernels when asked (CPU results then repeat exactly)."""
    if device.type == "cpu":
        torch.set_num_threads(len(os.sched_getaffinity(0)))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic
