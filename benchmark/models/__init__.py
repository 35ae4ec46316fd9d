"""Models: one registry from ``model.name`` to a constructor of the dense network.

The study's CIFAR architectures (:mod:`benchmark.models.cifar`, ``preresnet``, ``densenet``)
and the modern ones (``mobilenetv2``, ``vit``) take a width multiplier; torchvision's
ImageNet ResNets (:mod:`benchmark.models.torchvision_resnet`) can start from torchvision's
weights. CNNs list their prunable convolutions (``prunable_convs``) and, where one BN
normalises each, that BN (``batchnorm_after``); the transformer lists its heads and MLP
widths instead. The pruners read these hooks; ``docs/architectures.md`` lists the sizes.
"""

from __future__ import annotations

from typing import Callable, Dict

from torch import nn

from benchmark.errors import ConfigError
from benchmark.models.cifar import VGG16_WIDTHS, VGG19_WIDTHS, CifarResNet, CifarVGG
from benchmark.models.custom import build_custom
from benchmark.models.schema import MobileNetV2Conf, ModelConf, ViTConf

__all__ = ["FAMILIES", "MODELS", "build_model", "default_model_conf", "model_constructor", "model_family"]


def _torchvision_resnet(depth: int) -> Callable[[ModelConf, int], nn.Module]:
    def build(model_cfg: ModelConf, num_classes: int) -> nn.Module:
        from benchmark.models.torchvision_resnet import TorchvisionResNet

        return TorchvisionResNet(depth, num_classes, model_cfg.pretrained)

    return build


def _cifar_resnet(depth: int) -> Callable[[ModelConf, int], nn.Module]:
    return lambda model_cfg, num_classes: CifarResNet(depth, num_classes, model_cfg.width)


def _preresnet(depth: int, num_classes: int, width: float) -> nn.Module:
    from benchmark.models.preresnet import PreResNet

    return PreResNet(depth, num_classes, width)


def _densenet(depth: int, num_classes: int, width: float) -> nn.Module:
    from benchmark.models.densenet import DenseNet

    return DenseNet(depth, num_classes, width)


def _mobilenetv2(model_cfg: ModelConf, num_classes: int) -> nn.Module:
    from benchmark.models.mobilenetv2 import CifarMobileNetV2

    return CifarMobileNetV2(model_cfg, num_classes)


def _vit(model_cfg: ModelConf, num_classes: int) -> nn.Module:
    from benchmark.models.vit import CifarViT

    return CifarViT(model_cfg, num_classes)


# name -> (model config, classes) -> dense network
MODELS: Dict[str, Callable[[ModelConf, int], nn.Module]] = {
    "resnet20": _cifar_resnet(20),
    "resnet32": _cifar_resnet(32),
    "resnet56": _cifar_resnet(56),
    "resnet110": _cifar_resnet(110),
    "vgg16": lambda model_cfg, num_classes: CifarVGG(VGG16_WIDTHS, num_classes, model_cfg.width),
    "vgg19": lambda model_cfg, num_classes: CifarVGG(VGG19_WIDTHS, num_classes, model_cfg.width,
                                                     conv_bias=True, hidden=None),
    "preresnet110": lambda model_cfg, num_classes: _preresnet(110, num_classes, model_cfg.width),
    "densenet40": lambda model_cfg, num_classes: _densenet(40, num_classes, model_cfg.width),
    "mobilenetv2": lambda model_cfg, num_classes: _mobilenetv2(model_cfg, num_classes),
    "vit": lambda model_cfg, num_classes: _vit(model_cfg, num_classes),
    "resnet18": _torchvision_resnet(18),
    "resnet34": _torchvision_resnet(34),
    "resnet50": _torchvision_resnet(50),
    "custom": build_custom,  # model._target_ with model.kwargs (benchmark/models/custom.py)
}


# The dataset family each built-in model was defined for (the image task's check_pairing, benchmark.tasks.image);
# a model not listed here takes any input size.
FAMILIES: Dict[str, str] = {
    **{name: "cifar" for name in ("resnet20", "resnet32", "resnet56", "resnet110", "vgg16", "vgg19",
                                  "preresnet110", "densenet40", "mobilenetv2", "vit")},
    **{name: "imagenet" for name in ("resnet18", "resnet34", "resnet50")},
}


def model_family(name: str) -> str:
    """``cifar``, ``imagenet``, or ``any`` for a model that takes any input size."""
    return FAMILIES.get(name, "any")


# Models whose configuration has more than a width: their schema (conf/model/<name>.yaml extends it).
SCHEMAS: Dict[str, Callable[[], ModelConf]] = {"mobilenetv2": MobileNetV2Conf, "vit": ViTConf}


def default_model_conf(name: str) -> ModelConf:
    """The model's configuration with its schema defaults, for code that builds models without
    Hydra (``make bench``); the YAML options carry the same values."""
    model_constructor(name)
    return SCHEMAS[name]() if name in SCHEMAS else ModelConf(name=name)


def model_constructor(name: str) -> Callable[[ModelConf, int], nn.Module]:
    """The registry entry, or one line listing the valid names."""
    if name not in MODELS:
        raise ConfigError(f"model={name!r} is unknown; valid: {', '.join(MODELS)}")
    return MODELS[name]


def build_model(model_cfg: ModelConf, num_classes: int) -> nn.Module:
    """The dense network named by ``model.name`` (CIFAR models at ``model.width``)."""
    constructor = model_constructor(model_cfg.name)
    return constructor(model_cfg, num_classes)
