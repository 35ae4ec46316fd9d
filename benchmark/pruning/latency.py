"""Forward latency of a model under a fixed protocol, so accuracy and speed share a row.

Protocol: eval mode, no autograd, a batch of zeros of ``batch`` CIFAR-sized images on the
model's device, ``warmup`` untimed passes, then the median of ``repeats`` timed passes
(CUDA synchronised around each). The record stores the protocol beside the number.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Dict, Optional

import torch
from torch import nn


def forward_latency(model: nn.Module, batch: int = 64, warmup: int = 3, repeats: int = 10,
                    image_size: int = 32) -> Optional[Dict[str, Any]]:
    """Median milliseconds per forward pass of a batch, with the protocol; None when repeats is 0."""
    if repeats <= 0:
        return None
    device = next(model.parameters()).device
    x = torch.zeros(batch, 3, image_size, image_size, device=device)
    was_training = model.training
    model.eval()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            sync()
            began = time.perf_counter()
            model(x)
            sync()
            if i >= warmup:
                times.append(1000.0 * (time.perf_counter() - began))
    model.train(was_training)
    return {"ms": statistics.median(times), "batch": batch, "warmup": warmup, "repeats": repeats,
            "device": device.type, "threads": torch.get_num_threads()}
