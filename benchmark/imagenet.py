"""ImageNet-style data (torchvision ImageFolder) and torchvision's ResNet-18/34/50.

ImageNet cannot live in device memory, so it streams through a DataLoader with the
standard transforms: RandomResizedCrop + flip for training, resize (256/224 of the
crop) + centre crop for evaluation. The loaders expose the interface of
``benchmark.data.DeviceLoader`` (``epoch(e)``, ``len``, ``device``), with each epoch's
order and augmentation drawn from a generator seeded by (seed, epoch).

The ResNets wrap torchvision's definitions and list their prunable convs as the paper
prunes them: the first conv of each basic block (ResNet-18/34), both inner convs of
each bottleneck (ResNet-50). Layer ids count the stem as 1, then every block conv in
order (shortcut convs are not counted). ``model.pretrained=true`` takes torchvision's
ImageNet weights as the baseline, from the local torch hub cache only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import torch
from torch import nn

from benchmark.errors import ConfigError

Conf = Any
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class FolderLoader:
    """Batches from an ImageFolder, moved to ``device``; augmented and shuffled when training."""

    def __init__(self, folder: Path, image_size: int, batch_size: int, device: torch.device, augment: bool,
                 workers: int, seed: int = 0) -> None:
        import torchvision.transforms as T
        from torchvision.datasets import ImageFolder

        if augment:
            transform = T.Compose([T.RandomResizedCrop(image_size), T.RandomHorizontalFlip(), T.ToTensor(),
                                   T.Normalize(MEAN, STD)])
        else:
            transform = T.Compose([T.Resize(round(image_size * 256 / 224)), T.CenterCrop(image_size), T.ToTensor(),
                                   T.Normalize(MEAN, STD)])
        self.dataset = ImageFolder(str(folder), transform=transform)
        self.batch_size, self.device, self.augment, self.workers, self.seed = batch_size, device, augment, workers, seed

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def epoch(self, epoch: int) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        loader = torch.utils.data.DataLoader(self.dataset, self.batch_size, shuffle=self.augment, generator=generator,
                                             num_workers=self.workers, pin_memory=self.device.type == "cuda",
                                             persistent_workers=False)
        for images, labels in loader:
            yield images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)


def folders(dataset_cfg: Conf) -> Dict[str, Path]:
    """``root/train`` and ``root/val``, or a one-line error naming what is missing."""
    root = Path(dataset_cfg.root)
    found = {split: root / split for split in ("train", "val")}
    missing = [str(p) for p in found.values() if not p.is_dir()]
    if missing:
        raise ConfigError(f"dataset=imagenet: ImageFolder split(s) not found: {', '.join(missing)}; "
                          "set dataset.root to a folder holding train/ and val/")
    return found


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
