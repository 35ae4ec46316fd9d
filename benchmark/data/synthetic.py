"""The built-in synthetic dataset: procedural textures, so the demo and the tests need no download."""

from __future__ import annotations

import math
from typing import Tuple

import torch

from benchmark.data.schema import SyntheticDatasetConf
from benchmark.data.tensors import Split


def synthetic_splits(cfg: SyntheticDatasetConf) -> Tuple[Split, Split]:
    """Ten classes of square RGB textures (``cfg.image_size``, 32 by default), each a sum of three coloured gratings.

    A class fixes the gratings' frequencies and colours; every image draws its own
    phases (so position carries no label), mixes in a random weight of another class's
    pattern, and adds pixel noise. A small CNN separates the classes well above chance
    but far from perfectly within a few epochs, so pruning damage and the retraining
    schedule both show in accuracy. Deterministic from ``cfg.seed``.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    n = cfg.train_size + cfg.test_size
    classes, parts, size = cfg.num_classes, 3, cfg.image_size
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
