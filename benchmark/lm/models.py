"""Causal language models: built from a configuration, or loaded by hub id or local path.

``model.pretrained=false`` builds ``model.config`` (a transformers config with ``model_type``)
from scratch, initialised from the baseline seed and trained by the recipe: what tests and the
demo use, with no download. ``model.pretrained=true`` loads ``model.name`` with
``from_pretrained``; its weights enter the baseline identity by content (the SHA-256 of a local
folder's weight files) or by the resolved commit of the hub cache, never by name alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import nn

from benchmark.errors import ConfigError
from benchmark.lm import require
from benchmark.lm.schema import CausalLMConf

# Parameter counts of well-known checkpoints, for plan mode on a machine that has not downloaded
# them (model.num_params overrides; a local config is counted exactly instead).
KNOWN_SIZES: Dict[str, int] = {
    "facebook/opt-125m": 125_239_296,
    "facebook/opt-1.3b": 1_315_758_080,
    "meta-llama/Llama-2-7b-hf": 6_738_415_616,
    "huggyllama/llama-7b": 6_738_415_616,
}
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_WEIGHT_FILES = ("*.safetensors", "*.bin")


def _transformers():
    return require("transformers", "model=causal_lm")


def lm_config(model: CausalLMConf, vocab: Optional[int] = None):
    """The transformers config: built from ``model.config`` (its vocabulary defaulting to the
    corpus's), or read from the pretrained model's own files (local only)."""
    transformers = _transformers()
    if model.pretrained:
        try:
            return transformers.AutoConfig.from_pretrained(resolve_pretrained(model))
        except ConfigError:
            raise
        except Exception as error:
            raise ConfigError(f"model.name={model.name!r}: its config does not load ({type(error).__name__})") from None
    kwargs = dict(model.config)
    if "model_type" not in kwargs:
        raise ConfigError("model.config needs model_type (opt, llama, gpt2, ...) when model.pretrained=false")
    kind = kwargs.pop("model_type")
    if vocab is not None:
        kwargs.setdefault("vocab_size", vocab)
    try:
        return transformers.AutoConfig.for_model(kind, **kwargs)
    except Exception as error:  # noqa: BLE001 - an unknown model_type, or a config its class validates and refuses
        raise ConfigError(_heads_problem(model) or f"model.config (model_type={kind!r}) is refused by transformers: "
                          f"{_reason(error)}") from None


def _reason(error: BaseException) -> str:
    """The innermost message of an error, on one line (transformers wraps its validators' errors)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return " ".join(str(error).split())[:200]


# The keys a transformers config may spell the width and the number of attention heads with.
_WIDTH_KEYS = ("hidden_size", "n_embd", "d_model")
_HEADS_KEYS = ("num_attention_heads", "n_head", "num_heads")


def _heads_problem(model: CausalLMConf) -> Optional[str]:
    """The one-line reason when ``model.config``'s attention heads do not divide its width, else None."""
    width = next(((k, model.config[k]) for k in _WIDTH_KEYS if k in model.config), None)
    heads = next(((k, model.config[k]) for k in _HEADS_KEYS if k in model.config), None)
    if width is None or heads is None or not all(isinstance(v, int) and v > 0 for v in (width[1], heads[1])):
        return None
    if width[1] % heads[1] == 0:
        return None
    return (f"model.config.{heads[0]}={heads[1]} does not divide model.config.{width[0]}={width[1]}: each attention "
            f"head takes {width[0]} / {heads[0]} dimensions (e.g. {heads[0]}={_divisor_near(width[1], heads[1])})")


def _divisor_near(width: int, heads: int) -> int:
    """The divisor of ``width`` nearest ``heads`` (the smaller on a tie), for the error's suggestion."""
    return min((d for d in range(1, width + 1) if width % d == 0), key=lambda d: (abs(d - heads), d))


def offline_config(model: CausalLMConf, vocab: Optional[int] = None):
    """The transformers config without downloading anything: built from ``model.config``, or read
    from a pretrained model's local folder or Hugging Face cache; None for a hub model not on this
    machine (nothing is checked against it before training)."""
    if not model.pretrained or Path(model.name).is_dir():
        return lm_config(model, vocab)
    try:
        return _transformers().AutoConfig.from_pretrained(model.name, revision=model.revision, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached here: nothing to check against yet
        return None


def meta_model(model: CausalLMConf, vocab: Optional[int] = None) -> Optional[nn.Module]:
    """The model's modules on the meta device: every layer's shape, no weights allocated, nothing
    downloaded (what the checks before training read); None for a hub model not on this machine.
    A configuration transformers cannot build is one line naming ``model.config``."""
    config = offline_config(model, vocab)
    if config is None:
        return None
    try:
        with torch.device("meta"):
            return _transformers().AutoModelForCausalLM.from_config(config)
    except Exception as error:  # noqa: BLE001 - e.g. heads that do not divide the width: one line
        where = "model.config" if not model.pretrained else f"model.name={model.name!r}'s config"
        raise ConfigError(_heads_problem(model) or f"{where} does not build a causal LM in transformers: "
                          f"{type(error).__name__}: {_reason(error)}") from None


def resolve_pretrained(model: CausalLMConf) -> str:
    """The local folder holding ``model.name``: the path itself, or its snapshot in the Hugging
    Face cache (downloaded only when online). Offline and not cached: one line saying so."""
    if Path(model.name).is_dir():
        return model.name
    hub = require("huggingface_hub", "model.pretrained=true")
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"
    try:
        return hub.snapshot_download(model.name, revision=model.revision, local_files_only=offline,
                                     allow_patterns=["*.json", "*.safetensors", "*.bin", "*.model", "*.txt"])
    except Exception as error:
        where = "offline (HF_HUB_OFFLINE=1) and not in the Hugging Face cache" if offline else "not found on the hub"
        raise ConfigError(f"model.name={model.name!r} does not resolve: not a local folder, and {where} "
                          f"({type(error).__name__})") from None


def weights_fingerprint(model: CausalLMConf) -> Dict[str, Any]:
    """What enters the baseline identity for pretrained weights: the SHA-256 of each weight file
    of a local folder, or the commit of the hub snapshot (the cache folder is named by it)."""
    if not model.pretrained:
        return {}
    from benchmark.sources import sha256_file

    folder = Path(resolve_pretrained(model))
    if folder.parent.name == "snapshots":  # the hub cache: <repo>/snapshots/<commit>/
        return {"weights": {"commit": folder.name}}
    files = sorted(p for pattern in _WEIGHT_FILES for p in folder.glob(pattern))
    if not files:
        raise ConfigError(f"model.name={model.name!r} holds no weight files ({', '.join(_WEIGHT_FILES)})")
    return {"weights": {p.name: sha256_file(str(p), "model.name") for p in files}}


def build_lm(model: CausalLMConf, vocab: Optional[int], device: torch.device) -> nn.Module:
    """The dense causal LM on ``device`` (random init from the current seed, or pretrained)."""
    transformers = _transformers()
    dtype = _DTYPES[model.dtype]
    if model.pretrained:
        net = transformers.AutoModelForCausalLM.from_pretrained(resolve_pretrained(model), dtype=dtype)
    else:
        net = transformers.AutoModelForCausalLM.from_config(lm_config(model, vocab), dtype=dtype)
    if hasattr(net.config, "use_cache"):
        net.config.use_cache = False  # training and scoring full blocks: no key/value cache
    return net.to(device)


def parameter_count(model: CausalLMConf, vocab: Optional[int]) -> int:
    """Parameters without building the weights (meta device) or downloading anything: exact from a
    config or a local checkpoint's config, else ``model.num_params`` or the known-size table."""
    if model.pretrained and not Path(model.name).is_dir():
        if model.num_params is not None:
            return model.num_params
        if model.name in KNOWN_SIZES:
            return KNOWN_SIZES[model.name]
    try:
        net = meta_model(model, vocab)
    except ConfigError as error:
        raise ConfigError(f"{error}; for plan mode set model.num_params") from None
    if net is None:  # a hub model not on this machine, of no known size
        raise ConfigError(f"model.name={model.name!r} is not on this machine and its size is not known; "
                          "for plan mode set model.num_params")
    return sum(p.numel() for p in net.parameters())
