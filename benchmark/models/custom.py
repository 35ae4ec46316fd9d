"""``model=custom``: any constructor as the dense network, and the model's identity extras.

``model._target_=<module>.<callable>`` (torchvision's ``torchvision.models.mobilenet_v2``,
or a function in the user's own file) is called with ``model.kwargs`` and the dataset's
``num_classes``. Its qualified name and the SHA-256 of its source file enter the baseline
identity, as does the SHA-256 of ``model.weights`` when a released dense baseline is loaded.
"""

from __future__ import annotations

from typing import Any, Dict

from torch import nn

from benchmark.errors import ConfigError
from benchmark.models.schema import CustomModelConf, ModelConf
from benchmark.sources import file_fingerprint, load_callable, source_fingerprint

WHAT = "model._target_"


def _kwargs(model_cfg: CustomModelConf) -> Dict[str, Any]:
    return dict(model_cfg.kwargs)


def build_custom(model_cfg: CustomModelConf, num_classes: int) -> nn.Module:
    """The user's network: ``_target_(**kwargs, num_classes=...)``, checked to be a module."""
    target = model_cfg._target_
    constructor = load_callable(target, WHAT)
    kwargs = _kwargs(model_cfg)
    if "num_classes" in kwargs:
        raise ConfigError("model.kwargs.num_classes is set by the dataset (dataset.num_classes); remove it")
    try:
        model = constructor(**kwargs, num_classes=num_classes)
    except Exception as error:
        raise ConfigError(f"{WHAT}={target!r} failed with model.kwargs={kwargs}: {type(error).__name__}: "
                          f"{' '.join(str(error).split())[:160]}") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{WHAT}={target!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def model_fingerprint(model_cfg: ModelConf) -> Dict[str, Any]:
    """What enters the baseline identity beyond the config: the custom constructor's source
    and the released weights' SHA-256; empty for the built-in models trained here."""
    found: Dict[str, Any] = {}
    if model_cfg.name == "custom":
        found["model_source"] = source_fingerprint(load_callable(model_cfg._target_, WHAT), WHAT)
    if model_cfg.weights is not None:
        found["weights"] = file_fingerprint(model_cfg.weights, "model.weights")
    return found
