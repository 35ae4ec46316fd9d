"""CIFAR architectures of the study: ResNet-20/32/56/110 and VGG-16/19 with BN.

The definitions follow the code the paper's numbers come from: ResNets with basic
blocks and option-A (parameter-free, zero-padded) shortcuts; the "rethinking network
pruning" filter-level VGG-16 whose classifier is Linear(512, 512)-BN-ReLU-Linear; and
its weight-level VGG-19-BN (biased convs, one Linear(512, classes)). A width
multiplier scales every layer, giving tiny models for tests and the demo.

Each model lists its prunable convolutions as ``(layer_id, stage, conv)`` with layer
ids counted from 1 at the stem, the numbering of the paper's skip lists.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import ConfigError

PrunableConv = Tuple[int, int, nn.Conv2d]


def scaled(channels: int, width: float) -> int:
    """Channels after the width multiplier; never fewer than one."""
    return max(1, int(round(channels * width)))


class BasicBlock(nn.Module):
    """Two 3x3 convs; the shortcut subsamples and zero-pads channels (option A)."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.pad = planes - in_planes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.pad == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def residual_stages(block: Callable[[int, int, int], nn.Module], widths: Sequence[int], blocks: int,
                    in_planes: int, expansion: int = 1) -> Tuple[List[nn.Sequential], int]:
    """The three stages of a CIFAR ResNet: ``blocks`` blocks per width, the first block of every
    stage after the first striding by 2. Returns the stages and the channels the last one emits;
    CifarResNet (basic blocks) and PreResNet (bottlenecks, ``expansion`` 4) share it."""
    stages = []
    for index, planes in enumerate(widths):
        stage = []
        for b in range(blocks):
            stage.append(block(in_planes, planes, 2 if index > 0 and b == 0 else 1))
            in_planes = planes * expansion
        stages.append(nn.Sequential(*stage))
    return stages, in_planes


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 images: three stages of n blocks at 16, 32, 64 channels."""

    def __init__(self, depth: int, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ConfigError(f"ResNet depth {depth} is not 6n+2")
        blocks = (depth - 2) // 6
        widths = [scaled(c, width) for c in (16, 32, 64)]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages, _ = residual_stages(BasicBlock, widths, blocks, widths[0])
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(widths[2], num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)

    def prunable_convs(self) -> List[PrunableConv]:
        """First conv of every block (layer id 2k for block k): PFEC never prunes the rest,
        so residual shapes never change."""
        convs = []
        for stage, layer in enumerate((self.layer1, self.layer2, self.layer3)):
            for block in layer:
                convs.append((2 * (len(convs) + 1), stage, block.conv1))
        return convs

    def batchnorm_after(self, conv: nn.Conv2d) -> nn.BatchNorm2d:
        """The BN that normalises ``conv``'s output (Taylor-FO-BN scores its channels)."""
        for layer in (self.layer1, self.layer2, self.layer3):
            for block in layer:
                if conv is block.conv1:
                    return block.bn1
                if conv is block.conv2:
                    return block.bn2
        raise KeyError("conv is not a block conv of this model")


VGG16_WIDTHS: Sequence = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
VGG19_WIDTHS: Sequence = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                          512, 512, 512, 512)


class CifarVGG(nn.Module):
    """VGG with BN for CIFAR; ``widths`` lists conv widths with "M" for 2x2 max-pooling.
    ``hidden`` (the filter-level VGG-16) puts Linear-BN-ReLU of that width before the
    output layer; ``None`` (the weight-level VGG-19) has the output layer alone."""

    def __init__(self, widths: Sequence = VGG16_WIDTHS, num_classes: int = 10, width: float = 1.0,
                 conv_bias: bool = False, hidden: Optional[int] = 512) -> None:
        super().__init__()
        layers: List[nn.Module] = []
        in_ch = 3
        for w in widths:
            if w == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            out_ch = scaled(w, width)
            layers += [nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=conv_bias), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        if hidden is None:
            self.classifier = nn.Sequential(nn.Linear(in_ch, num_classes))
        else:
            hidden = scaled(hidden, width)
            self.classifier = nn.Sequential(
                nn.Linear(in_ch, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes)
            )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = F.avg_pool2d(x, 2).flatten(1)  # the last block leaves 2x2 maps
        return self.classifier(x)

    def prunable_convs(self) -> List[PrunableConv]:
        """Every conv, staged by the max-pool that follows it."""
        convs, stage = [], 0
        for m in self.features:
            if isinstance(m, nn.MaxPool2d):
                stage += 1
            elif isinstance(m, nn.Conv2d):
                convs.append((len(convs) + 1, stage, m))
        return convs

    def batchnorm_after(self, conv: nn.Conv2d) -> nn.BatchNorm2d:
        """The BN that normalises ``conv``'s output (Taylor-FO-BN scores its channels)."""
        layers = list(self.features)
        return layers[next(i for i, m in enumerate(layers) if m is conv) + 1]
