"""BatchNorm recalibration after pruning (``bn_recalibration``: a fraction of the training set).

Pruning changes every layer's input statistics, so the running means and variances a pruned
network inherits no longer fit it. Recalibration, as in the BIMP code, resets them and re-estimates
them as a cumulative average over forward passes in train mode, with no gradient and no weight
change, before retraining starts.
"""

from __future__ import annotations

import math
import time
from typing import Dict

import torch
from torch import nn

from benchmark.data import Loader


@torch.no_grad()
def recalibrate(model: nn.Module, loader: Loader, fraction: float, epoch: int = 0) -> Dict[str, float]:
    """Re-estimate every BatchNorm's statistics over the first ``fraction`` of one training epoch."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    began = time.perf_counter()
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches seen
    batches = max(1, math.ceil(fraction * len(loader)))
    was_training = model.training
    model.train()
    for _, (images, _labels) in zip(range(batches), loader.epoch(epoch)):
        model(images)
    model.train(was_training)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    return {"fraction": fraction, "batches": batches, "seconds": time.perf_counter() - began}
