"""Datasets: one registry from ``dataset.name`` to how its splits are read and batched.

CIFAR-10/100 (torchvision) and the built-in ``synthetic`` set live in device memory as
uint8 tensors (:mod:`benchmark.data.tensors`); ``imagenet`` streams an ImageFolder tree
(:mod:`benchmark.data.folders`). A cell asks :func:`open_data` for its loaders and plan
mode asks :func:`train_length` for the epoch size without loading anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Protocol, Tuple

import torch

from benchmark.data.cifar import cifar_split
from benchmark.data.schema import DatasetConf, ImageFolderDatasetConf
from benchmark.data.synthetic import synthetic_splits
from benchmark.data.tensors import MEAN, STD, DeviceLoader, Split, Splits, carve
from benchmark.errors import ConfigError

__all__ = ["DATASETS", "MEAN", "STD", "Data", "DeviceLoader", "Loader", "Split", "Splits", "dataset_entry", "image_size",
           "load_splits", "open_data", "synthetic_splits", "train_length"]

EVAL_BATCH = 500  # evaluation batch size of in-memory splits (no effect on results)


class Loader(Protocol):
    """What training and evaluation read: ``len`` batches per epoch, one epoch at a time."""

    device: torch.device

    def __len__(self) -> int: ...

    def epoch(self, epoch: int): ...


@dataclass
class Data:
    """What a cell trains and evaluates on, whatever the dataset.

    ``train(seed)`` makes the augmented training loader for one stage (baseline,
    pruning scores, retraining each have their seed); ``evals`` maps split names
    (``test``, and ``val`` when carved) to plain loaders.
    """

    train: Callable[[int], Loader]
    evals: Dict[str, Loader]


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset: how many training images it has, its image side, and how it is read:
    ``read`` gives in-memory (train, test) splits, ``stream`` opens loaders over files."""

    full_train_size: Callable[[DatasetConf], int]  # before the validation split and subset
    image_size: Callable[[DatasetConf], int]
    family: str  # cifar | imagenet: which models and recipes fit it (the image task's check_pairing, benchmark.tasks.image)
    read: Optional[Callable[[DatasetConf], Tuple[Split, Split]]] = None
    stream: Optional[Callable[[DatasetConf, int, torch.device], Data]] = None  # (config, batch, device)


def _open_folders(dataset_cfg: ImageFolderDatasetConf, batch: int, device: torch.device) -> Data:
    from benchmark.data.folders import FolderLoader, folders

    paths, size, workers = folders(dataset_cfg), dataset_cfg.image_size, dataset_cfg.workers
    return Data(train=lambda seed: FolderLoader(paths["train"], size, batch, device, True, workers, seed),
                evals={"test": FolderLoader(paths["val"], size, batch, device, False, workers)})


def _folder_train_size(dataset_cfg: ImageFolderDatasetConf) -> int:
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    from benchmark.data.folders import folders

    train = folders(dataset_cfg)["train"]
    return len(make_dataset(str(train), find_classes(str(train))[1], IMG_EXTENSIONS))


def _cifar(dataset_cfg: DatasetConf) -> Tuple[Split, Split]:
    return cifar_split(dataset_cfg, True), cifar_split(dataset_cfg, False)


DATASETS: Dict[str, DatasetEntry] = {
    "synthetic": DatasetEntry(lambda c: c.train_size, lambda c: c.image_size, "cifar", read=synthetic_splits),
    "cifar10": DatasetEntry(lambda c: 50_000, lambda c: 32, "cifar", read=_cifar),
    "cifar100": DatasetEntry(lambda c: 50_000, lambda c: 32, "cifar", read=_cifar),
    "imagenet": DatasetEntry(_folder_train_size, lambda c: c.image_size, "imagenet", stream=_open_folders),
}


def dataset_entry(name: str) -> DatasetEntry:
    """The registry entry, or one line listing the valid names."""
    if name not in DATASETS:
        raise ConfigError(f"dataset={name!r} is unknown; valid: {', '.join(DATASETS)}")
    return DATASETS[name]


def train_length(dataset_cfg: DatasetConf) -> int:
    """Images per training epoch, known without loading the data (plan mode)."""
    rest = dataset_entry(dataset_cfg.name).full_train_size(dataset_cfg) - dataset_cfg.val_size
    return rest if dataset_cfg.train_subset is None else min(rest, dataset_cfg.train_subset)


def load_splits(dataset_cfg: DatasetConf) -> Splits:
    """Train, test and optional validation splits of an in-memory dataset, uint8 on the CPU."""
    entry = dataset_entry(dataset_cfg.name)
    if entry.read is None:
        raise ConfigError(f"dataset={dataset_cfg.name} streams from disk; it has no in-memory splits")
    train, test = entry.read(dataset_cfg)
    train, val = carve(train, dataset_cfg)
    return Splits(train=train, test=test, val=val)


def image_size(dataset_cfg: DatasetConf) -> int:
    """Side of the square images a dataset feeds the model (32 for CIFAR)."""
    return dataset_entry(dataset_cfg.name).image_size(dataset_cfg)


def open_data(dataset_cfg: DatasetConf, batch_size: int, device: torch.device) -> Data:
    """Loaders for ``dataset_cfg`` with training batches of ``batch_size`` on ``device``."""
    entry = dataset_entry(dataset_cfg.name)
    if entry.stream is not None:
        return entry.stream(dataset_cfg, batch_size, device)
    splits = load_splits(dataset_cfg)
    evals = {"test": DeviceLoader(splits.test, EVAL_BATCH, device, augment=False)}
    if splits.val is not None:
        evals["val"] = DeviceLoader(splits.val, EVAL_BATCH, device, augment=False)
    return Data(train=lambda seed: DeviceLoader(splits.train, batch_size, device, augment=True, seed=seed), evals=evals)
