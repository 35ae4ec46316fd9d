"""PreResNet-110 for CIFAR, as the study's weight-level pruning code defines it.

rethinking-network-pruning's ``cifar/weight-level/models/cifar/preresnet.py`` (which the
study runs for magnitude weight pruning) builds depth >= 44 from *bottleneck* blocks,
n = (depth - 2) // 9 per stage: 12 blocks of BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (x4
expansion) at 16, 32, 64 planes for depth 110. The first block of each stage has a 1x1
conv shortcut; a final BN-ReLU precedes pooling. This is not the basic-block ResNet-110
of the filter-pruning tables (:mod:`benchmark.models.cifar`).
"""

from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import ConfigError
from benchmark.models.cifar import PrunableConv, residual_stages, scaled

EXPANSION = 4


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck; ``shortcut`` is a 1x1 conv when the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        out_planes = planes * EXPANSION
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        changes = stride != 1 or in_planes != out_planes
        self.shortcut = nn.Conv2d(in_planes, out_planes, 1, stride, bias=False) if changes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + (x if self.shortcut is None else self.shortcut(x))


class PreResNet(nn.Module):
    """PreResNet-(9n+2) with bottleneck blocks for 32x32 images."""

    def __init__(self, depth: int = 110, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        if (depth - 2) % 9:
            raise ConfigError(f"PreResNet depth {depth} is not 9n+2 (bottleneck blocks)")
        blocks = (depth - 2) // 9
        widths = [scaled(c, width) for c in (16, 32, 64)]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        stages, in_planes = residual_stages(PreActBottleneck, widths, blocks, widths[0], EXPANSION)
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = nn.BatchNorm2d(in_planes)
        self.fc = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = F.adaptive_avg_pool2d(F.relu(self.bn(x)), 1).flatten(1)
        return self.fc(x)

    def _blocks(self) -> List[PreActBottleneck]:
        return [*self.layer1, *self.layer2, *self.layer3]

    def prunable_convs(self) -> List[PrunableConv]:
        """The two inner convs of every bottleneck, as the paper prunes ResNet-50: the third
        feeds the residual sum, so pruning never changes residual shapes. Layer ids count
        the stem as 1, then every block conv in order (shortcut convs not counted)."""
        convs, layer_id = [], 1
        for stage, layer in enumerate((self.layer1, self.layer2, self.layer3)):
            for block in layer:
                convs += [(layer_id + 1, stage, block.conv1), (layer_id + 2, stage, block.conv2)]
                layer_id += 3
        return convs

    def batchnorm_after(self, conv: nn.Conv2d) -> nn.BatchNorm2d:
        """The BN that normalises ``conv``'s output: pre-activation puts it in the same block."""
        for block in self._blocks():
            if conv is block.conv1:
                return block.bn2
            if conv is block.conv2:
                return block.bn3
        raise KeyError("conv is not an inner bottleneck conv of this model")
