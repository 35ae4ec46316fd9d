"""MobileNetV2 for CIFAR: torchvision's definition with the CIFAR variant's strides.

The CIFAR variant (as in the widely used kuangliu/pytorch-cifar model) keeps torchvision's
blocks and widths but runs the stem and the second stage at stride 1, so a 32x32 image
reaches the last stage at 4x4 instead of 1x1. Both are data in ``conf/model/mobilenetv2.yaml``
(``setting``, ``stem_stride``); the parameter count does not depend on strides, so at
1000 classes it equals torchvision's published ImageNet count.

Filter pruning takes the expansion (1x1) conv of each inverted residual: Torch-Pruning's
dependency graph removes the matching depthwise filters, both BNs and the projection's
input channels, so the block's hidden width shrinks and its output (the residual) stays.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from benchmark.models.cifar import PrunableConv
from benchmark.models.schema import MobileNetV2Conf


class CifarMobileNetV2(nn.Module):
    """torchvision's MobileNetV2 (as ``net``) listing its prunable expansion convs."""

    def __init__(self, cfg: MobileNetV2Conf, num_classes: int) -> None:
        super().__init__()
        import torchvision

        self.setting = [list(row) for row in cfg.setting]
        self.net = torchvision.models.MobileNetV2(num_classes=num_classes, width_mult=cfg.width,
                                                  inverted_residual_setting=self.setting, dropout=cfg.dropout)
        self.net.features[0][0].stride = (cfg.stem_stride, cfg.stem_stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _blocks(self) -> List[tuple]:
        """(stage, inverted residual) in order; a stage is one row of ``setting``."""
        stages = [stage for stage, (_, _, n, _) in enumerate(self.setting) for _ in range(n)]
        return list(zip(stages, list(self.net.features)[1:-1]))

    def prunable_convs(self) -> List[PrunableConv]:
        """The expansion conv of every block that has one (t > 1). Layer ids count every
        conv from 1 at the stem, in order (expansion, depthwise, projection)."""
        convs, layer_id = [], 1
        for stage, block in self._blocks():
            if len(block.conv) == 4:  # expansion, depthwise, projection, BN
                convs.append((layer_id + 1, stage, block.conv[0][0]))
            layer_id += len(block.conv) - 1
        return convs

    def batchnorm_after(self, conv: nn.Conv2d) -> nn.BatchNorm2d:
        """The BN of the expansion conv's Conv-BN-ReLU6 unit."""
        for _, block in self._blocks():
            if conv is block.conv[0][0]:
                return block.conv[0][1]
        raise KeyError("conv is not an expansion conv of this model")
