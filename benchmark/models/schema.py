"""The image models' schemas (``conf/model/``): an architecture by name, its width, its kinds' own knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING

from benchmark.fields import POSITIVE, ModelGroup, ranged


@dataclass
class ModelConf(ModelGroup):
    """An architecture by name plus a width multiplier (1.0 = the paper's model)."""

    name: str = MISSING  # one of benchmark.models.MODELS (conf/model/*.yaml), custom: model._target_
    width: float = ranged(1.0, **POSITIVE)  # CIFAR models only
    weights: Optional[str] = None  # a released dense state dict as the baseline (its SHA-256 is identity)


@dataclass
class CustomModelConf(ModelConf):
    """Any constructor as the dense network: ``_target_(**kwargs, num_classes=dataset.num_classes)``."""

    name: str = "custom"
    _target_: str = MISSING  # module.callable, e.g. torchvision.models.mobilenet_v2
    kwargs: Dict[str, Any] = field(default_factory=dict)  # constructor arguments (num_classes comes from the data)


@dataclass
class MobileNetV2Conf(ModelConf):
    """torchvision's MobileNetV2 with its stage table as data (the CIFAR variant's strides)."""

    name: str = "mobilenetv2"
    # rows of (expansion t, channels c, blocks n, first stride s), as in the MobileNetV2 paper
    setting: List[List[int]] = field(default_factory=lambda: [
        [1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]])
    stem_stride: int = 1  # 2 on ImageNet; 1 keeps 32x32 inputs at 4x4 before pooling
    dropout: float = 0.0  # before the classifier (torchvision's ImageNet default: 0.2)


@dataclass
class ViTConf(ModelConf):
    """timm's VisionTransformer for small images; ``width`` scales ``embed_dim``."""

    name: str = "vit"
    patch_size: int = 4
    embed_dim: int = 192
    depth: int = 9
    num_heads: int = 6
    mlp_ratio: float = 2.0
    drop_path_rate: float = 0.0

