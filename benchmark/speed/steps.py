"""What ``make bench`` times: the cases, the suite's and the reference's batches, one training step.

Shared by the in-process timing (:mod:`benchmark.speed.bench`) and the packed processes
(:mod:`benchmark.speed.packed`), so both time exactly the same step.
"""

from __future__ import annotations

from typing import Callable, Iterator, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from benchmark import pruning
from benchmark.data import MEAN, STD, DeviceLoader, Split
from benchmark.fastpath import TrainingForward, fast_path, layout
from benchmark.models import build_model, default_model_conf
from benchmark.pruning.schema import PrunerConf

# (model, paper variant or "l1-<percent>" for a uniform L1 ratio, keep a multiple of this many
# filters): "-r8" rows show what hardware-friendly widths change against the paper's exact widths.
CASES = [("resnet20", None, 1), ("resnet56", None, 1), ("resnet56", "B", 1), ("resnet56", "D", 1),
         ("resnet56", "D", 8), ("resnet110", None, 1), ("vgg16", None, 1), ("vgg16", "A", 1),
         ("vgg19", None, 1), ("preresnet110", None, 1), ("densenet40", None, 1), ("densenet40", "l1-50", 1),
         ("mobilenetv2", None, 1), ("mobilenetv2", "l1-50", 1), ("vit", None, 1), ("vit", "l1-50", 1)]


def case_name(name: str, variant: str | None, round_to: int) -> str:
    return name + (f"-{variant}" if variant else "") + (f"-r{round_to}" if round_to > 1 else "")


def bench_model(name: str, variant: str | None, round_to: int, device: torch.device) -> nn.Module:
    model = build_model(default_model_conf(name), 10)
    if variant is not None:
        uniform = variant.startswith("l1-")
        pruner = PrunerConf(name="l1", ratio=int(variant[3:]) / 100 if uniform else 0.0,
                            variant=None if uniform else variant, round_to=round_to)
        pruning.prune(model, pruning.resolve(pruner, name), seed=0)
    return model.to(device)


def reference_batches(split: Split, batch: int) -> Callable[[], Iterator[Tuple[torch.Tensor, torch.Tensor]]]:
    import torchvision.transforms as T
    from PIL import Image

    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
    images = split.images.permute(0, 2, 3, 1).numpy()

    class Pil(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(images)

        def __getitem__(self, i: int):
            return transform(Image.fromarray(images[i])), int(split.labels[i])

    loader = torch.utils.data.DataLoader(Pil(), batch_size=batch, shuffle=True, num_workers=0, drop_last=True)
    return lambda: iter(loader)


def suite_batches(split: Split, batch: int, device: torch.device) -> Callable[[], Iterator]:
    loader = DeviceLoader(split, batch, device, augment=True, seed=0)
    counter = iter(range(10**9))
    return lambda: loader.epoch(next(counter))


def trainer(model: nn.Module, forward: Callable, amp: Callable, channels_last: bool) -> Callable:
    """One SGD training step of ``model`` through ``forward`` (the model itself, or compiled)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with amp():
            loss = F.cross_entropy(forward(layout(x, channels_last)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def suite_step(model: nn.Module, device: torch.device, compile: bool, precision: str = "auto") -> Callable:
    """The suite's training step on ``device``: its fast path (channels_last on CUDA, bf16 autocast
    where ``precision`` resolves to it) and, when ``compile``, the compiled forward. ``model`` is
    converted in place."""
    model, autocast, channels_last = fast_path(model, device, enabled=True, requested=precision)
    return trainer(model, TrainingForward(model, compile=compile), autocast, channels_last)


def synthetic_split() -> Split:
    """4096 random uint8 images: the pipelines' speed does not depend on what the images show."""
    g = torch.Generator().manual_seed(0)
    return Split(torch.randint(0, 256, (4096, 3, 32, 32), dtype=torch.uint8, generator=g),
                 torch.randint(0, 10, (4096,), generator=g))
