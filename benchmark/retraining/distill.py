"""Knowledge distillation while retraining (``distill=kd``; Hinton et al. 2015, Aflalo et al. 2020).

The loss is (1 - alpha) CE(student, y) + alpha tau^2 KL(softmax(teacher / tau) || softmax(student / tau)),
the tau^2 keeping the soft term's gradient on the scale of the hard one. The teacher is the cell's own
cached dense baseline, in eval mode and without gradient, so distillation costs no extra training;
the seconds its forward passes take are counted, to report what KD adds per epoch.
"""

from __future__ import annotations

import time
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import ConfigError
from benchmark.retraining.schema import DistillConf

METHODS = ("none", "kd")


def validate(distill: DistillConf) -> None:
    """One line per bad setting, before any training (the ranges of alpha and temperature are the schema's)."""
    if distill.name not in METHODS:
        raise ConfigError(f"distill={distill.name!r} is unknown; valid: {', '.join(METHODS)}")


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, alpha: float,
            temperature: float) -> torch.Tensor:
    """(1 - alpha) CE + alpha tau^2 KL(teacher/tau || student/tau), KL averaged over the batch."""
    soft = F.kl_div(F.log_softmax(student / temperature, dim=1), F.log_softmax(teacher / temperature, dim=1),
                    reduction="batchmean", log_target=True)
    return (1.0 - alpha) * F.cross_entropy(student, labels) + alpha * temperature**2 * soft


class Distiller:
    """The training criterion ``(logits, labels, images) -> loss`` with the frozen teacher inside."""

    def __init__(self, teacher: nn.Module, alpha: float, temperature: float) -> None:
        self.teacher = teacher.eval().requires_grad_(False)
        self.alpha, self.temperature = alpha, temperature
        self.teacher_seconds = 0.0

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        began = time.perf_counter()
        with torch.no_grad():
            teacher = self.teacher(images).float()
        if teacher.is_cuda:  # the teacher's time, not the time to queue it
            torch.cuda.synchronize(teacher.device)
        self.teacher_seconds += time.perf_counter() - began
        return kd_loss(logits, teacher, labels, self.alpha, self.temperature)

    def summary(self, epochs: int) -> Dict[str, float]:
        return {"alpha": self.alpha, "temperature": self.temperature,
                "teacher_seconds": self.teacher_seconds, "extra_seconds_per_epoch": self.teacher_seconds / epochs}
