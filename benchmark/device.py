"""The training device and the backend settings that go with it: threads, allocator, determinism, and the
one place where global random state is seeded (:func:`seed_everything`)."""

from __future__ import annotations

import ctypes
import os
import platform
import random

import numpy as np
import torch

from benchmark.errors import ConfigError


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


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep large freed blocks instead of returning them to the system.

    By default glibc unmaps a freed block of a few MB and maps a fresh one on the next
    allocation, so every training step pays page faults for its activations. The compiled
    CPU step suffers most: ResNet-56-B trained at about 200 images/s against 265 with this
    setting on 2 cores (eager steps were unaffected). No effect, and False, off glibc.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mmap_ok = libc.mallopt(m_mmap_threshold, 32 * 2**20)  # glibc's 64-bit maximum
    trim_ok = libc.mallopt(m_trim_threshold, 2**30)
    return bool(mmap_ok and trim_ok)


def configure_backend(device: torch.device, deterministic: bool) -> None:
    """Threads to the cores and malloc that keeps freed memory on the CPU; deterministic kernels
    when asked (CPU results then repeat exactly)."""
    if device.type == "cpu":
        torch.set_num_threads(len(os.sched_getaffinity(0)))
        keep_freed_memory()
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) from one number."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
