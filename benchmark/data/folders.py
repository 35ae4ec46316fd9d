"""ImageNet-style data: a torchvision ImageFolder tree, streamed through a DataLoader.

ImageNet cannot live in device memory, so it streams through a DataLoader with the
standard transforms: RandomResizedCrop + flip for training, resize (256/224 of the
crop) + centre crop for evaluation. The loaders expose the interface of
``benchmark.data.tensors.DeviceLoader`` (``epoch(e)``, ``len``, ``device``), with each epoch's
order and augmentation drawn from a generator seeded by (seed, epoch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, Tuple

import torch

from benchmark.data.schema import ImageFolderDatasetConf
from benchmark.errors import ConfigError

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


def folders(dataset_cfg: ImageFolderDatasetConf) -> Dict[str, Path]:
    """``root/train`` and ``root/val``, or a one-line error naming what is missing."""
    root = Path(dataset_cfg.root)
    found = {split: root / split for split in ("train", "val")}
    missing = [str(p) for p in found.values() if not p.is_dir()]
    if missing:
        raise ConfigError(f"dataset=imagenet: ImageFolder split(s) not found: {', '.join(missing)}; "
                          "set dataset.root to a folder holding train/ and val/")
    return found
