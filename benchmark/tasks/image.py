"""Image classification: the task of every dataset but text."""

from __future__ import annotations

from typing import Any

import torch

from benchmark import pruning
from benchmark.device import resolve_device
from benchmark.fastpath import precision
from benchmark.models.custom import model_fingerprint
from benchmark.tasks import Fingerprints


class ImageTask:
    name = "image"
    metric = "test_top1"

    def fingerprints(self, cfg: Any) -> Fingerprints:
        """A user's model files and constructor, and what the pruner names (benchmark.sources)."""
        return model_fingerprint(cfg.model), pruning.fingerprint(cfg.pruner)

    plan_fingerprints = fingerprints  # an image cell's files must be on the planning machine too

    def precision(self, cfg: Any) -> str:
        """bf16 autocast under ``fast`` where the device runs it natively, else fp32
        (:func:`benchmark.fastpath.precision`)."""
        try:  # an explicit device needs no GPU here: plan mode on a login node names the job's cells
            device = torch.device(cfg.device)
        except RuntimeError:  # auto, or a bad name (a one-line error)
            device = resolve_device(cfg.device)
        return precision(device, cfg.fast, cfg.precision)


IMAGE = ImageTask()
