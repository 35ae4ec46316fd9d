"""The language-model cell's own checks, run by the one validation phase (:mod:`benchmark.validation`).

Kept apart from :mod:`benchmark.lm.cell` so the phase can call them without importing the cell
(imports only run downwards): the pairing of the groups, then what only a language model needs.
"""

from __future__ import annotations

from benchmark.errors import ConfigError
from benchmark.lm import LM_PRUNERS, require
from benchmark.lm.pruners import parse_pattern
from benchmark.schema import BenchmarkConf, CausalLMConf, ConvergenceConf, LMPrunerConf


def check_pairing(cfg: BenchmarkConf) -> None:
    """Every group of a language-model cell is a language-model option, in one line each."""
    if cfg.dataset.name != "text":
        raise ConfigError(f"model/pruner/recipe of a language model need dataset=text, not dataset={cfg.dataset.name}")
    if not isinstance(cfg.model, CausalLMConf):
        raise ConfigError(f"dataset=text needs model=causal_lm, not model={cfg.model.name}")
    if cfg.pruner.name not in LM_PRUNERS:
        raise ConfigError(f"pruner={cfg.pruner.name} prunes image models; dataset=text needs one of: {', '.join(LM_PRUNERS)}")
    if cfg.recipe.name not in ("", "text"):
        raise ConfigError(f"recipe={cfg.recipe.name} is written for {cfg.recipe.name} data; dataset=text needs recipe=lm")
    if cfg.distill.name != "none" or cfg.bn_recalibration is not None or cfg.pruner.rounds != 1:
        raise ConfigError("distill, bn_recalibration and pruner.rounds > 1 are not implemented for language models")
    if cfg.convergence != ConvergenceConf():
        raise ConfigError("convergence.*: the convergence verdict judges image baselines' accuracy curves; "
                          "language-model records carry none, so leave it at its defaults")
    if cfg.precision == "bf16":
        raise ConfigError("precision=bf16: the language-model loop trains in fp32 only (use precision=auto or fp32)")


def check_lm(cfg: BenchmarkConf) -> None:
    """What only a language-model cell can get wrong: the optional packages it needs, the model's
    configuration, the pruning pattern and the regime."""
    require("transformers", "model=causal_lm")
    if not cfg.model.pretrained and "model_type" not in cfg.model.config:
        raise ConfigError("model.config needs model_type (opt, llama, gpt2, ...) when model.pretrained=false")
    if isinstance(cfg.pruner, LMPrunerConf):
        parse_pattern(cfg.pruner.pattern)
        if cfg.pruner.pattern == "unstructured" and not cfg.pruner.sparsity > 0:
            raise ConfigError(f"pruner={cfg.pruner.name} needs pruner.sparsity in (0, 1), not {cfg.pruner.sparsity}")
    if cfg.retrain.params == "lora":
        require("peft", "retrain.params=lora")
