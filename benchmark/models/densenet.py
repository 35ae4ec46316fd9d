"""DenseNet-40 (growth rate 12) for CIFAR, as the study's weight-level pruning code defines it.

rethinking-network-pruning's ``cifar/weight-level/models/cifar/densenet.py`` with its
defaults: basic dense layers (BN-ReLU-3x3 conv to ``growth`` channels, concatenated to
the input), no bottleneck and no compression, (depth - 4) / 3 = 12 layers per block, a
3x3 stem to 2 x growth channels, BN-ReLU-1x1-avgpool transitions and a final BN-ReLU.
(The compressed DenseNet-BC-100 is a different model.) Concatenation ties every layer's
output channels to all later layers, and no single BN follows a conv (each layer's output
is normalised, at a different offset, by every later layer's BN), so the model lists no
``prunable_convs``: l1/random/taylor prune it through the generic graph pruner
(:mod:`benchmark.pruning.graph`), which removes the matching input channels of every consumer.
"""

from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import ConfigError
from benchmark.models.cifar import scaled


class DenseLayer(nn.Module):
    """BN-ReLU-conv3x3 to ``growth`` new channels, appended to the input's."""

    def __init__(self, in_planes: int, growth: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, growth, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.conv1(F.relu(self.bn1(x)))), 1)


class Transition(nn.Module):
    """BN-ReLU-conv1x1 (no compression) and 2x2 average pooling between dense blocks."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv1 = nn.Conv2d(planes, planes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv1(F.relu(self.bn1(x))), 2)


class DenseNet(nn.Module):
    """DenseNet-(3n+4) without bottleneck or compression: three blocks of n layers."""

    def __init__(self, depth: int = 40, num_classes: int = 10, width: float = 1.0, growth: int = 12) -> None:
        super().__init__()
        if (depth - 4) % 3:
            raise ConfigError(f"DenseNet depth {depth} is not 3n+4")
        layers = (depth - 4) // 3
        growth = scaled(growth, width)
        planes = 2 * growth
        self.conv1 = nn.Conv2d(3, planes, 3, 1, 1, bias=False)
        blocks: List[nn.Module] = []
        for index in range(3):
            block = []
            for _ in range(layers):
                block.append(DenseLayer(planes, growth))
                planes += growth
            blocks.append(nn.Sequential(*block))
        self.dense1, self.dense2, self.dense3 = blocks
        self.trans1, self.trans2 = Transition(2 * growth + layers * growth), Transition(2 * growth + 2 * layers * growth)
        self.bn = nn.BatchNorm2d(planes)
        self.fc = nn.Linear(planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trans1(self.dense1(self.conv1(x)))
        x = self.dense3(self.trans2(self.dense2(x)))
        x = F.adaptive_avg_pool2d(F.relu(self.bn(x)), 1).flatten(1)
        return self.fc(x)
