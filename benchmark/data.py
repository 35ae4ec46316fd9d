"""Datasets as uint8 tensors on the training device, augmented a whole batch at a time.

CIFAR-10/100 come through torchvision; ``synthetic`` is generated here so the demo and
the tests need no download. Every split is a pair of tensors: images ``(N, 3, 32, 32)``
uint8 and labels int64. The training loader shuffles, pads-and-crops and flips whole
batches with tensor ops on the device: no worker processes, no per-sample Python.

All randomness of an epoch (order, crops, flips) is drawn from a CPU generator seeded
by (seed, epoch), so an epoch is the same on every device and after a resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import torch

from benchmark.errors import ConfigError

Conf = Any
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


def _torchvision_split(dataset_cfg: Conf, train: bool) -> Split:
    import torchvision

    classes = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}
    cls = classes[dataset_cfg.name]
    try:
        ds = cls(dataset_cfg.root, train=train, download=False)
    except RuntimeError:
        if not dataset_cfg.download:
            raise ConfigError(
                f"dataset={dataset_cfg.name}: not found under dataset.root={dataset_cfg.root!r} and "
                "dataset.download=false; unpack the archive there or allow the download"
            ) from None
        try:
            ds = cls(dataset_cfg.root, train=train, download=True)
        except Exception as error:  # no network, proxy, disk: all mean the same to the user
            raise ConfigError(
                f"dataset={dataset_cfg.name}: not found under dataset.root={dataset_cfg.root!r} and the "
                f"download failed ({type(error).__name__}); unpack the archive there or set dataset.root"
            ) from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return Split(images, torch.tensor(ds.targets, dtype=torch.int64))


def synthetic_splits(cfg: Conf) -> Tuple[Split, Split]:
    """Ten classes of 32x32 RGB textures, each a sum of three coloured gratings.

    A class fixes the gratings' frequencies and colours; every image draws its own
    phases (so position carries no label), mixes in a random weight of another class's
    pattern, and adds pixel noise. A small CNN separates the classes well above chance
    but far from perfectly within a few epochs, so pruning damage and the retraining
    schedule both show in accuracy. Deterministic from ``cfg.seed``.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    n = cfg.train_size + cfg.test_size
    classes, parts, size = cfg.num_classes, 3, 32
    freqs = torch.rand(classes, parts, 2, generator=g) * 5.0 - 2.5  # cycles per image along y and x
    colours = torch.nn.functional.normalize(torch.randn(classes, parts, 3, generator=g), dim=-1)
    labels = torch.randint(0, classes, (n,), generator=g)
    others = (labels + torch.randint(1, classes, (n,), generator=g)) % classes
    coords = torch.arange(size, dtype=torch.float32) / size

    def pattern(cls: torch.Tensor) -> torch.Tensor:
        phase = torch.rand(n, parts, 1, 1, generator=g) * 2 * math.pi
        f = freqs[cls]  # (n, parts, 2)
        arg = 2 * math.pi * (f[..., 0, None, None] * coords[:, None] + f[..., 1, None, None] * coords[None, :]) + phase
        return torch.einsum("nkhw,nkc->nchw", torch.sin(arg), colours[cls]) / math.sqrt(parts)

    mix = torch.rand(n, 1, 1, 1, generator=g) * cfg.distractor
    signal = pattern(labels) + mix * pattern(others)
    noise = torch.randn(n, 3, size, size, generator=g) * cfg.noise
    images = ((0.5 + 0.22 * signal + noise) * 255).round().clamp(0, 255).to(torch.uint8)
    train = Split(images[: cfg.train_size], labels[: cfg.train_size])
    test = Split(images[cfg.train_size :], labels[cfg.train_size :])
    return train, test


def _carve(train: Split, dataset_cfg: Conf) -> Tuple[Split, Optional[Split]]:
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


DATASETS = ("synthetic", "cifar10", "cifar100", "imagenet")
_OFFICIAL_TRAIN_SIZES = {"cifar10": 50_000, "cifar100": 50_000}


def check_name(dataset_cfg: Conf) -> None:
    if dataset_cfg.name not in DATASETS:
        raise ConfigError(f"dataset={dataset_cfg.name!r} is unknown; valid: {', '.join(DATASETS)}")


def train_length(dataset_cfg: Conf) -> int:
    """Images per training epoch, known without loading the data (plan mode)."""
    check_name(dataset_cfg)
    if dataset_cfg.name == "imagenet":
        from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

        from benchmark.imagenet import folders

        train = folders(dataset_cfg)["train"]
        return len(make_dataset(str(train), find_classes(str(train))[1], IMG_EXTENSIONS))
    full = dataset_cfg.train_size if dataset_cfg.name == "synthetic" else _OFFICIAL_TRAIN_SIZES[dataset_cfg.name]
    rest = full - dataset_cfg.val_size
    return rest if dataset_cfg.train_subset is None else min(rest, dataset_cfg.train_subset)


def load_splits(dataset_cfg: Conf) -> Splits:
    """Train, test and optional validation splits, as uint8 tensors on the CPU (every dataset
    but ImageNet, which streams: see :func:`open_data`)."""
    check_name(dataset_cfg)
    if dataset_cfg.name == "synthetic":
        train, test = synthetic_splits(dataset_cfg)
    else:
        train, test = _torchvision_split(dataset_cfg, True), _torchvision_split(dataset_cfg, False)
    train, val = _carve(train, dataset_cfg)
    return Splits(train=train, test=test, val=val)


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


def image_size(dataset_cfg: Conf) -> int:
    """Side of the square images a dataset feeds the model (32 for CIFAR)."""
    return int(dataset_cfg.get("image_size", 32)) if hasattr(dataset_cfg, "get") else 32


@dataclass
class Data:
    """What a cell trains and evaluates on, whatever the dataset.

    ``train(seed)`` makes the augmented training loader for one stage (baseline,
    pruning scores, retraining each have their seed); ``evals`` maps split names
    (``test``, and ``val`` when carved) to plain loaders.
    """

    train: Callable[[int], Any]
    evals: Dict[str, Any]


def open_data(cfg: Conf, device: torch.device) -> Data:
    """Loaders for ``cfg.dataset``: in-memory uint8 tensors for CIFAR and synthetic data,
    a streaming ImageFolder for ImageNet."""
    batch = cfg.recipe.batch_size
    if cfg.dataset.name == "imagenet":
        from benchmark.imagenet import FolderLoader, folders

        paths, size, workers = folders(cfg.dataset), cfg.dataset.image_size, cfg.dataset.workers
        return Data(train=lambda seed: FolderLoader(paths["train"], size, batch, device, True, workers, seed),
                    evals={"test": FolderLoader(paths["val"], size, batch, device, False, workers)})
    splits = load_splits(cfg.dataset)
    evals = {"test": DeviceLoader(splits.test, 500, device, augment=False)}
    if splits.val is not None:
        evals["val"] = DeviceLoader(splits.val, 500, device, augment=False)
    return Data(train=lambda seed: DeviceLoader(splits.train, batch, device, augment=True, seed=seed), evals=evals)
