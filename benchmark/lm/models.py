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
from benchmark.schema import CausalLMConf

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
    except ValueError as error:
        raise ConfigError(f"model.config.model_type={kind!r}: {str(error).splitlines()[0][:160]}") from None


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
    transformers = _transformers()
    try:
        config = lm_config(model, vocab)
    except ConfigError as error:
        raise ConfigError(f"{error}; for plan mode set model.num_params") from None
    with torch.device("meta"):
        net = transformers.AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in net.parameters())
