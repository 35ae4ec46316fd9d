"""Language models' domain code: corpora, causal LMs, their pruners, retraining regimes, objectives, schemas.

A cell is a language-model cell when ``dataset=text``; it runs on the one engine (the cell, the
stages and the training loop of every task) through the text task, :mod:`benchmark.tasks.text`.
``transformers``, ``datasets`` and ``peft`` are an optional extra (``pip install -e ".[lm]"``):
they are imported here lazily, so the vision suite never needs them.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from benchmark.errors import ConfigError

LM_PRUNERS = ("none", "magnitude", "wanda", "sparsegpt")
INSTALL = 'pip install -e ".[lm]"'


def require(module: str, why: str) -> ModuleType:
    """Import an optional dependency, or fail in one line saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise ConfigError(f"{why} needs the package {package!r}, which is not installed; "
                          f"install the language-model extra: {INSTALL}") from None
