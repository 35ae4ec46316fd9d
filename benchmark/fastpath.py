"""The speed settings of a training device, behind the one switch ``fast`` (default on).

- CUDA: channels_last memory and bf16 autocast (BatchNorm keeps fp32 under autocast).
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
from typing import Any, Callable, ContextManager, Optional, Tuple

import torch
from torch import nn

log = logging.getLogger(__name__)


def precision(device: torch.device, enabled: bool) -> str:
    """The arithmetic the fast path trains and evaluates in: ``bf16`` autocast on CUDA, else ``fp32``.
    It changes results beyond rounding, so it enters the baseline's identity."""
    return "bf16" if enabled and device.type == "cuda" else "fp32"


def fast_path(model: nn.Module, device: torch.device, enabled: bool) -> Tuple[nn.Module, Callable[[], ContextManager], bool]:
    """The device's layout and precision settings. Returns the model (converted in place), a
    factory of the autocast context, and whether inputs should be channels_last."""
    if precision(device, enabled) == "fp32":
        return model, nullcontext, False
    model.to(memory_format=torch.channels_last)
    return model, lambda: torch.autocast("cuda", dtype=torch.bfloat16), True


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
