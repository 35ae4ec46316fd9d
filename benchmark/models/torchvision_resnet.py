"""torchvision's ResNet-18/34/50, listing their prunable convs as the paper prunes them.

The first conv of each basic block (ResNet-18/34), both inner convs of each bottleneck
(ResNet-50). Layer ids count the stem as 1, then every block conv in order (shortcut
convs are not counted). ``model.pretrained=true`` takes torchvision's ImageNet weights as
the baseline, from the local torch hub cache only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import torch
from torch import nn

from benchmark.errors import ConfigError


class TorchvisionResNet(nn.Module):
    """torchvision's ResNet, exposing the convs the paper prunes."""

    def __init__(self, depth: int, num_classes: int, pretrained: bool) -> None:
        super().__init__()
        import torchvision

        self.depth = depth
        self.net = getattr(torchvision.models, f"resnet{depth}")(weights=None, num_classes=num_classes)
        if pretrained:
            self.net.load_state_dict(_pretrained_state(depth, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _blocks(self) -> List[nn.Module]:
        return [b for layer in (self.net.layer1, self.net.layer2, self.net.layer3, self.net.layer4) for b in layer]

    def prunable_convs(self) -> List[Tuple[int, int, nn.Conv2d]]:
        convs, layer_id = [], 1
        for stage, layer in enumerate((self.net.layer1, self.net.layer2, self.net.layer3, self.net.layer4)):
            for block in layer:
                inner = [block.conv1] if self.depth < 50 else [block.conv1, block.conv2]
                for conv in [block.conv1, block.conv2] + ([block.conv3] if self.depth >= 50 else []):
                    layer_id += 1
                    if conv in inner:
                        convs.append((layer_id, stage, conv))
        return convs

    def batchnorm_after(self, conv: nn.Conv2d) -> nn.BatchNorm2d:
        for block in self._blocks():
            for name in ("conv1", "conv2", "conv3"):
                if getattr(block, name, None) is conv:
                    return getattr(block, "bn" + name[-1])
        raise KeyError("conv is not a block conv of this model")


def _pretrained_state(depth: int, num_classes: int) -> Dict[str, torch.Tensor]:
    """torchvision's ImageNet weights from the local hub cache; never a download."""
    import torchvision

    if num_classes != 1000:
        raise ConfigError(f"model.pretrained needs 1000 classes (ImageNet); the dataset has {num_classes}")
    weights = torchvision.models.get_model_weights(f"resnet{depth}").IMAGENET1K_V1
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not path.exists():
        raise ConfigError(f"pretrained weights for resnet{depth} not found at {path}; put torchvision's checkpoint "
                          "there (or set TORCH_HOME) or use model.pretrained=false")
    return torch.load(path, map_location="cpu", weights_only=True)
