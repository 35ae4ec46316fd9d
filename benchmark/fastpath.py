"""The speed settings of a training device, behind the one switch ``fast`` (default on).

- Precision (``precision=auto|fp32|bf16``, default ``auto``): bf16 autocast where the hardware
  computes it natively, CUDA and CPUs with AVX512-BF16 or AMX (detected, never assumed);
  fp32 elsewhere: without those instructions bf16 is emulated and slower than fp32. BatchNorm
  keeps fp32 parameters and running statistics under autocast on both devices. A forced
  ``bf16`` on a CPU without native support runs (slowly) and says so once.
- CUDA: channels_last memory.
- Both devices: ``torch.compile`` of the model for the training step's full batches, once a
  stage runs long enough to repay the compilation (``compile_min_steps``). On this project's
  2-core CPU, compiling costs 11 to 53 s per model the first time (seconds once torch's
  on-disk cache holds it) and trains ResNet-56 1.3x to 1.4x faster (``make bench`` measures
  it); a tiny test cell of a few steps never compiles.
- The CPU keeps the default memory layout: channels_last measured slower there for these
  small CIFAR models (demo epoch 3.3 s against 2.6 s on 2 cores).

The compiled module shares the model's parameters, so checkpoints, evaluation and the
eager fallback all see the same weights; only the arithmetic's order differs, within
floating-point rounding of the eager step.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from functools import lru_cache
from typing import Any, Callable, ContextManager, Dict, Optional, Tuple

import torch
from torch import nn

log = logging.getLogger(__name__)


PRECISIONS = ("auto", "fp32", "bf16")
_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo's names of the native bf16 instructions


def cpuinfo(field: str) -> str | None:
    """The first ``field`` of /proc/cpuinfo (``model name``, ``flags``), or None where there is none."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


@lru_cache(maxsize=None)
def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), as torch's CPU dispatch sees
    it where torch says, else as /proc/cpuinfo's flags say."""
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, probe, None)
        if check is not None and check():
            return True
    return bool(set((cpuinfo("flags") or "").split()) & set(_CPU_FLAGS))


def cpu_capability() -> Dict[str, Any]:
    """What a record says of the CPU's vector instructions: torch's dispatch level
    (``torch.backends.cpu.get_cpu_capability()``: DEFAULT, AVX2, AVX512, ...) and native bf16."""
    return {"isa": torch.backends.cpu.get_cpu_capability(), "native_bf16": native_cpu_bf16()}


_warned_emulated = False


def precision(device: torch.device, enabled: bool, requested: str = "auto") -> str:
    """The arithmetic a stage trains and evaluates in. ``auto`` follows the hardware: bf16
    autocast when ``enabled`` (the fast path) on CUDA or on a CPU with native bf16, else fp32;
    ``fp32`` and ``bf16`` force one. It changes results beyond rounding, so it enters the
    baseline's identity."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision={requested!r}: expected one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    native = device.type == "cuda" or (device.type == "cpu" and native_cpu_bf16())
    return "bf16" if enabled and native else "fp32"


def autocast_factory(device: torch.device, resolved: str) -> Callable[[], ContextManager]:
    """The context a step's forward runs in for a resolved precision."""
    if resolved == "fp32":
        return nullcontext
    global _warned_emulated
    if device.type == "cpu" and not native_cpu_bf16() and not _warned_emulated:
        _warned_emulated = True
        log.warning("precision=bf16 on a CPU without native bf16 (no AVX512-BF16 or AMX): emulated, "
                    "slower than fp32")
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def autocast_for(device: torch.device, enabled: bool, requested: str = "auto") -> Callable[[], ContextManager]:
    """The autocast context of the precision ``requested`` resolves to on ``device`` (:func:`precision`)."""
    return autocast_factory(device, precision(device, enabled, requested))


def fast_path(model: nn.Module, device: torch.device, enabled: bool,
              requested: str = "auto") -> Tuple[nn.Module, Callable[[], ContextManager], bool]:
    """The device's layout and precision settings. Returns the model (converted in place), a
    factory of the autocast context, and whether inputs should be channels_last (CUDA's fast
    path only: measured slower on the CPU for these small models)."""
    amp = autocast_for(device, enabled, requested)
    if not (enabled and device.type == "cuda"):
        return model, amp, False
    model.to(memory_format=torch.channels_last)
    return model, amp, True


def layout(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


class TrainingForward:
    """The forward call of training steps: compiled for batches of the first batch's size,
    eager for the rest (an epoch's last, smaller batch would otherwise cost a recompilation).

    When compilation fails (no C++ compiler, an unsupported platform) the failure is logged
    once and training goes on eagerly: the result is the same, only slower.
    """

    def __init__(self, module: Any, compile: bool) -> None:
        self.eager = module
        if compile:
            # A fresh start for each stage's model: in a sweep of many cells in one process,
            # compiled code of earlier models would count against dynamo's recompile limit,
            # after which it silently runs eagerly.
            torch._dynamo.reset()
        self.compiled: Optional[Any] = torch.compile(module) if compile else None
        self.batch: Optional[int] = None
        self.ready = False  # the compiled module has run once (its compilation succeeded)

    @property
    def compiling(self) -> bool:
        return self.compiled is not None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.compiled is None:
            return self.eager(images)
        if self.batch is None:
            self.batch = len(images)
        if len(images) != self.batch:
            return self.eager(images)
        if self.ready:
            return self.compiled(images)
        try:
            out = self.compiled(images)
        except Exception as error:  # noqa: BLE001 - any compiler failure: the eager step is the fallback
            log.warning("torch.compile failed (%s: %s); training eagerly", type(error).__name__,
                        str(error).splitlines()[0] if str(error) else "")
            self.compiled = None
            return self.eager(images)
        self.ready = True
        return out


def should_compile(enabled: bool, steps: int, min_steps: int) -> bool:
    """Compile when the fast path is on and the stage runs at least ``min_steps`` steps
    (``min_steps`` 0: always; negative: never)."""
    return enabled and min_steps >= 0 and steps >= min_steps
