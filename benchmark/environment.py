"""What a record needs to be re-run: code version, packages, hardware."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Optional

import torch

PACKAGES = ("torch", "torchvision", "torch-pruning", "hydra-core", "omegaconf", "numpy", "wandb")


def _git(*args: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_version() -> Dict[str, Any]:
    """The git commit of the suite and whether the working tree had changes."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": _git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def package_versions() -> Dict[str, Optional[str]]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo's ``model name``), or the machine type where that is absent."""
    from benchmark.fastpath import cpuinfo

    return cpuinfo("model name") or platform.processor() or platform.machine()


def device_description(device: torch.device) -> Dict[str, Any]:
    """The device and the CPU beside it: digits move with the vector ISA torch dispatches to
    (AVX2, AVX512, AMX) and with the thread count, so every record names both."""
    from benchmark.fastpath import cpu_capability

    info = {"type": device.type, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
            "cpu_model": cpu_model(), **{f"cpu_{k}": v for k, v in cpu_capability().items()}}
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def environment(device: torch.device) -> Dict[str, Any]:
    return {
        "git": code_version(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": platform.node(),
        "device": device_description(device),
    }
