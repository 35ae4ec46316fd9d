"""CIFAR-10 and CIFAR-100 through torchvision, as uint8 tensors (downloaded only when allowed)."""

from __future__ import annotations

import torch

from benchmark.data.schema import DatasetConf
from benchmark.data.tensors import Split
from benchmark.errors import ConfigError


def cifar_split(dataset_cfg: DatasetConf, train: bool) -> Split:
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
