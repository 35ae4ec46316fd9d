"""In-memory splits as uint8 tensors, and the loader that augments whole batches on the device.

Every in-memory split is a pair of tensors: images ``(N, 3, 32, 32)`` uint8 and labels
int64. The training loader shuffles, pads-and-crops and flips whole batches with tensor
ops on the device: no worker processes, no per-sample Python. All randomness of an epoch
(order, crops, flips) is drawn from a CPU generator seeded by (seed, epoch), so an epoch
is the same on every device and after a resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import torch

from benchmark.data.schema import DatasetConf
from benchmark.errors import ConfigError

# Normalisation of the paper (CIFAR-10/100 alike; used for the synthetic set too).
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


@dataclass
class Split:
    images: torch.Tensor  # (N, 3, H, W) uint8
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> "Split":
        return Split(self.images.to(device), self.labels.to(device))


@dataclass
class Splits:
    train: Split
    test: Split
    val: Optional[Split] = None


def carve(train: Split, dataset_cfg: DatasetConf) -> Tuple[Split, Optional[Split]]:
    """Validation split and training subset from one seeded permutation of the training set."""
    if dataset_cfg.val_size == 0 and dataset_cfg.train_subset is None:
        return train, None
    if not 0 <= dataset_cfg.val_size < len(train):
        raise ConfigError(f"dataset.val_size={dataset_cfg.val_size} must lie in [0, {len(train)})")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(dataset_cfg.split_seed))
    val_idx, rest = order[: dataset_cfg.val_size], order[dataset_cfg.val_size :]
    if dataset_cfg.train_subset is not None:
        if not 0 < dataset_cfg.train_subset <= len(rest):
            raise ConfigError(f"dataset.train_subset={dataset_cfg.train_subset} must lie in [1, {len(rest)}]")
        rest = rest[: dataset_cfg.train_subset]
    pick = lambda idx: Split(train.images[idx], train.labels[idx])  # noqa: E731
    return pick(rest), (pick(val_idx) if len(val_idx) else None)



class DeviceLoader:
    """Batches of normalised float images from a uint8 split that lives on ``device``."""

    def __init__(self, split: Split, batch_size: int, device: torch.device, augment: bool, seed: int = 0) -> None:
        self.split = split.to(device)
        self.batch_size = batch_size
        self.device = device
        self.augment = augment
        self.seed = seed
        self.mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255
        if augment:  # zero-padded once, flattened: a crop+flip is then one gather per batch
            n, c, h, w = self.split.images.shape
            self.padded = torch.nn.functional.pad(self.split.images, (4, 4, 4, 4)).reshape(n, c, -1)
            rows = torch.arange(h, device=device).view(h, 1) * (w + 8)
            self.grid = (rows + torch.arange(w, device=device)).view(1, 1, h * w)  # (0, 0) crop offsets
            self.grid_flipped = (rows + torch.arange(w - 1, -1, -1, device=device)).view(1, 1, h * w)

    def __len__(self) -> int:
        return math.ceil(len(self.split) / self.batch_size)

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().sub_(self.mean).div_(self.std)

    def epoch(self, epoch: int) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """One pass; shuffled and augmented when ``augment``, in order otherwise."""
        n = len(self.split)
        if not self.augment:
            for start in range(0, n, self.batch_size):
                end = start + self.batch_size
                yield self._normalise(self.split.images[start:end]), self.split.labels[start:end]
            return
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=g)
        shifts = torch.randint(0, 9, (n, 2), generator=g)  # pad 4 on each side, crop 32
        flips = torch.rand(n, generator=g) < 0.5
        order, shifts, flips = order.to(self.device), shifts.to(self.device), flips.to(self.device)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self._augment(idx, shifts[start : start + len(idx)], flips[start : start + len(idx)]), self.split.labels[idx]

    def _augment(self, idx: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        """Images ``idx`` zero-padded by 4, cropped back at per-image offsets and flipped per
        image: one gather from the padded copy, then normalisation, all on the device."""
        c, (h, w) = self.split.images.shape[1], self.split.images.shape[2:]
        offsets = (shifts[:, 0] * (w + 8) + shifts[:, 1]).view(-1, 1, 1)
        index = offsets + torch.where(flips.view(-1, 1, 1), self.grid_flipped, self.grid)
        cropped = self.padded[idx].gather(2, index.expand(-1, c, -1))
        return self._normalise(cropped.view(len(idx), c, h, w))
