"""The image datasets' schemas (``conf/dataset/``): what the data this package reads is made of.

Fields that change the data enter the identity; ``root``, ``download`` and ``workers`` do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from benchmark.fields import SEED, DatasetGroup, ranged


@dataclass
class DatasetConf(DatasetGroup):
    """Where images come from; fields that change the data enter the identity."""

    root: str = "data"  # where torchvision finds (or downloads) the archive; not part of identity
    download: bool = True  # try to fetch when missing; never part of identity
    num_classes: int = ranged(10, low=2)
    val_size: int = ranged(0, low=0, high="data.train_images", high_open=True)  # images carved from the training set as a validation split (0 = none)
    train_subset: Optional[int] = ranged(None, low=1, high="data.train_after_val")  # keep the first N of a seeded permutation of the training set
    split_seed: int = ranged(0, **SEED)  # seed of the permutation behind val_size and train_subset


@dataclass
class SyntheticDatasetConf(DatasetConf):
    """Procedural images: deterministic from ``seed``, learnable only in part."""

    name: str = "synthetic"
    train_size: int = ranged(5000, low=1)
    test_size: int = ranged(1000, low=1)
    seed: int = ranged(0, **SEED)
    noise: float = ranged(0.5, low=0)  # std of per-pixel Gaussian noise, in units of the [0, 1] range
    distractor: float = ranged(0.7, low=0, high=1)  # max weight of another class's pattern mixed into each image
    image_size: int = ranged(32, low=8)  # side of the square images (the demo's 16 trains ~4x faster than 32)


@dataclass
class ImageFolderDatasetConf(DatasetConf):
    """ImageNet-style data: ``root/train/<class>/*`` and ``root/val/<class>/*``."""

    name: str = "imagenet"
    num_classes: int = 1000
    image_size: int = ranged(224, low=8)  # training crop and evaluation centre crop
    workers: int = ranged(8, low=0)  # DataLoader worker processes (not part of the identity)

