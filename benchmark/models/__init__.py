"""Models: one registry from ``model.name`` to a constructor of the dense network.

The study's CIFAR architectures (:mod:`benchmark.models.cifar`) take a width multiplier;
torchvision's ImageNet ResNets (:mod:`benchmark.models.torchvision_resnet`) can start
from torchvision's weights. Every model lists its prunable convolutions
(``prunable_convs``) and the BN after each (``batchnorm_after``), which the pruners use.
"""

from __future__ import annotations

from typing import Callable, Dict

from torch import nn

from benchmark.errors import ConfigError
from benchmark.models.cifar import VGG16_WIDTHS, CifarResNet, CifarVGG
from benchmark.models.custom import build_custom
from benchmark.schema import ModelConf

__all__ = ["FAMILIES", "MODELS", "build_model", "model_constructor", "model_family"]


def _torchvision_resnet(depth: int) -> Callable[[ModelConf, int], nn.Module]:
    def build(model_cfg: ModelConf, num_classes: int) -> nn.Module:
        from benchmark.models.torchvision_resnet import TorchvisionResNet

        return TorchvisionResNet(depth, num_classes, model_cfg.pretrained)

    return build


def _cifar_resnet(depth: int) -> Callable[[ModelConf, int], nn.Module]:
    return lambda model_cfg, num_classes: CifarResNet(depth, num_classes, model_cfg.width)


# name -> (model config, classes) -> dense network
MODELS: Dict[str, Callable[[ModelConf, int], nn.Module]] = {
    "resnet20": _cifar_resnet(20),
    "resnet32": _cifar_resnet(32),
    "resnet56": _cifar_resnet(56),
    "resnet110": _cifar_resnet(110),
    "vgg16": lambda model_cfg, num_classes: CifarVGG(VGG16_WIDTHS, num_classes, model_cfg.width),
    "resnet18": _torchvision_resnet(18),
    "resnet34": _torchvision_resnet(34),
    "resnet50": _torchvision_resnet(50),
    "custom": build_custom,  # model._target_ with model.kwargs (benchmark/models/custom.py)
}


# The dataset family each built-in model was defined for (benchmark.cell.check_pairing);
# a model not listed here takes any input size.
FAMILIES: Dict[str, str] = {
    **{name: "cifar" for name in ("resnet20", "resnet32", "resnet56", "resnet110", "vgg16")},
    **{name: "imagenet" for name in ("resnet18", "resnet34", "resnet50")},
}


def model_family(name: str) -> str:
    """``cifar``, ``imagenet``, or ``any`` for a model that takes any input size."""
    return FAMILIES.get(name, "any")


def model_constructor(name: str) -> Callable[[ModelConf, int], nn.Module]:
    """The registry entry, or one line listing the valid names."""
    if name not in MODELS:
        raise ConfigError(f"model={name!r} is unknown; valid: {', '.join(MODELS)}")
    return MODELS[name]


def build_model(model_cfg: ModelConf, num_classes: int) -> nn.Module:
    """The dense network named by ``model.name`` (CIFAR models at ``model.width``)."""
    constructor = model_constructor(model_cfg.name)
    if not model_cfg.width > 0:
        raise ConfigError(f"model.width={model_cfg.width} must be > 0")
    return constructor(model_cfg, num_classes)
