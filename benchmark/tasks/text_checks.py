"""The text task's checks: what its members ``check_pairing``, ``refuse_unrun`` and ``check``
(:mod:`benchmark.tasks.text`) run when the one validation phase (:mod:`benchmark.validation`) calls them.

In the phase's order: the pairing of the groups, what the language-model cell does not
run (:data:`REFUSED`, the one list), then what only a language model can get wrong, each in one
line naming the key before anything trains: the model's configuration against transformers, the
block size against its positions, the token counts against one block, an N:M pattern against
the pruned layers' widths, LoRA targets against the model's modules, local text files.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from torch import nn

from benchmark.errors import ConfigError
from benchmark.lm import LM_PRUNERS, require
from benchmark.lm.pruners import parse_pattern
from benchmark.lm.schema import CausalLMConf, LMPrunerConf, TextDatasetConf
from benchmark.retraining.schema import ConvergenceConf
from benchmark.schema import BenchmarkConf

# What benchmark.preparation settles on the one engine runs for language models too (ALLR's rate from
# the norm drop, LRW's recorded rates from the baseline's lr trace); what it cannot settle for them
# is below (weight rewinding and Scratch rebuild an image architecture from its pruning history; KD's
# criterion reads image logits; BN recalibration needs BatchNorm), with iterative rounds. Every
# setting that needs one of them is refused here, the one list, so no schedule is recorded under its
# name but run as another.
# Each entry: the setting as the user would type it when the config asks for it (else None), and why.
NOT_RUN = "benchmark.preparation does not settle it for language models"
REFUSED: Tuple[Tuple[Callable[[BenchmarkConf], Optional[str]], str], ...] = (
    (lambda c: "schedule=wr" if c.schedule.name == "wr" else None,
     f"weight rewinding resets the surviving weights to the baseline's epoch E - T, and {NOT_RUN} "
     "(the cell would run lrw)"),
    (lambda c: f"schedule={c.schedule.name}" if c.schedule.name in ("scratch_e", "scratch_b") else None,
     f"Scratch re-initialises the pruned architecture and trains its own number of epochs, and {NOT_RUN} "
     "(the cell would retrain the pruned weights for T epochs)"),
    (lambda c: f"rewind_epochs={list(c.rewind_epochs)}" if list(c.rewind_epochs) else None,
     "baseline weight snapshots serve schedule=wr, which language models do not run (leave rewind_epochs empty)"),
    (lambda c: f"distill={c.distill.name}" if c.distill.name != "none" else None,
     f"the distillation criterion is built before retraining, and {NOT_RUN}"),
    (lambda c: f"bn_recalibration={c.bn_recalibration}" if c.bn_recalibration is not None else None,
     f"BatchNorm recalibration runs before retraining, and {NOT_RUN} (causal LMs have no BatchNorm)"),
    (lambda c: f"pruner.rounds={c.pruner.rounds}" if c.pruner.rounds != 1 else None,
     "iterative pruning (prune, retrain, repeat) is not implemented there: language models are pruned once"),
)


def check_refused(cfg: BenchmarkConf) -> None:
    """The first setting of :data:`REFUSED` the config asks for, in one line naming it and why."""
    for setting, reason in REFUSED:
        given = setting(cfg)
        if given is not None:
            raise ConfigError(f"{given} is refused for language models: {reason}")


def lm_groups(cfg: BenchmarkConf) -> List[str]:
    """The language-model groups a config holds, as the user typed them (benchmark.tasks.task_of reads it too)."""
    groups = []
    if isinstance(cfg.model, CausalLMConf):
        groups.append("model=causal_lm")
    if cfg.recipe.name == "text":
        groups.append("recipe=lm")
    if isinstance(cfg.pruner, LMPrunerConf):
        groups.append(f"pruner={cfg.pruner.name}")
    return groups


def check_pairing(cfg: BenchmarkConf) -> None:
    """Every group of a language-model cell is a language-model option, in one line each."""
    from benchmark.tasks import dataset_task  # the one rule (lazy: benchmark.tasks imports this module)

    if dataset_task(cfg.dataset.name) != "text":
        seen = lm_groups(cfg)
        what = f"{seen[0]} is a language-model group" if len(seen) == 1 else f"{', '.join(seen)} are language-model groups"
        raise ConfigError(f"{what}; language-model groups need dataset=text, not dataset={cfg.dataset.name} "
                          f"(or give dataset={cfg.dataset.name} an image model, recipe and pruner)")
    if not isinstance(cfg.model, CausalLMConf):
        raise ConfigError(f"dataset=text needs model=causal_lm, not model={cfg.model.name}")
    if cfg.pruner.name not in LM_PRUNERS:
        raise ConfigError(f"pruner={cfg.pruner.name} prunes image models; dataset=text needs one of: {', '.join(LM_PRUNERS)}")
    if cfg.recipe.name not in ("", "text"):
        raise ConfigError(f"recipe={cfg.recipe.name} is written for {cfg.recipe.name} data; dataset=text needs recipe=lm")
    if cfg.convergence != ConvergenceConf():
        raise ConfigError("convergence.*: the convergence verdict judges image baselines' accuracy curves; "
                          "language-model records carry none, so leave it at its defaults")


def check_lm(cfg: BenchmarkConf) -> None:
    """What only a language-model cell can get wrong: the optional packages it needs, the model's
    configuration, the pruning pattern, the regime, the token counts and local files, and the model
    against the data, the pattern and the LoRA targets."""
    require("transformers", "model=causal_lm")
    if not cfg.model.pretrained and "model_type" not in cfg.model.config:
        raise ConfigError("model.config needs model_type (opt, llama, gpt2, ...) when model.pretrained=false")
    if isinstance(cfg.pruner, LMPrunerConf):
        nm = parse_pattern(cfg.pruner.pattern)
        if nm is not None and cfg.pruner.name == "sparsegpt" and cfg.pruner.blocksize % nm[1]:
            raise ConfigError(f"pruner.blocksize={cfg.pruner.blocksize} must be a multiple of M={nm[1]} for "
                              f"pruner.pattern={cfg.pruner.pattern}: SparseGPT chooses each group of M inputs "
                              "inside one block of columns")
        if cfg.pruner.pattern == "unstructured" and not cfg.pruner.sparsity > 0:
            raise ConfigError(f"pruner={cfg.pruner.name} needs pruner.sparsity in (0, 1), not {cfg.pruner.sparsity}")
    if cfg.retrain.params == "lora":
        require("peft", "retrain.params=lora")
    check_token_counts(cfg.dataset)
    if cfg.dataset.source == "files":
        check_files(cfg.dataset)
    check_model(cfg)


def check_token_counts(dataset: TextDatasetConf) -> None:
    """Each split holds at least one block: training needs one to step on, the test perplexity one
    to score (a split shorter than a block is dropped whole); validation is 0 (off) or a block."""
    block = dataset.block_size
    for key, tokens, why in (("train_tokens", dataset.train_tokens, "an epoch needs at least one block to train on"),
                             ("test_tokens", dataset.test_tokens, "the test perplexity needs at least one block"),
                             ("val_tokens", dataset.val_tokens, "validation needs at least one block (0 turns it off)")):
        if key == "val_tokens" and tokens == 0:
            continue
        if tokens < block:
            raise ConfigError(f"dataset.{key}={tokens} is under one block of dataset.block_size={block} tokens: {why}")


# How much of each local file is read to tell text from binary before training.
_SNIFF = 1 << 16


def check_files(dataset: TextDatasetConf) -> None:
    """``dataset.source=files``: every listed file exists, holds something, and reads as UTF-8 text
    (its first 64 KiB; a NUL byte or an invalid sequence is a binary file)."""
    for split in ("train", "validation", "test"):
        for index, name in enumerate(getattr(dataset.files, split)):
            key, path = f"dataset.files.{split}[{index}]={name!r}", Path(name)
            if not path.is_file():
                raise ConfigError(f"{key} is not a file{' (it is a folder)' if path.is_dir() else ''}")
            with path.open("rb") as handle:
                head = handle.read(_SNIFF)
            if not head.strip():
                if len(head) < _SNIFF:
                    raise ConfigError(f"{key} is empty{' (only whitespace)' if head else ''}: every split needs text")
                continue  # a long file starting with blank lines: its text comes later
            nul = head.find(b"\x00")
            if nul >= 0:
                raise ConfigError(f"{key} is binary, not text (a NUL byte at offset {nul}): "
                                  "dataset.files take UTF-8 .txt or .json/.jsonl files")
            decoder = codecs.getincrementaldecoder("utf-8")()
            try:
                decoder.decode(head, final=len(head) < _SNIFF)  # a character cut at 64 KiB is not an error
            except UnicodeDecodeError as error:
                raise ConfigError(f"{key} is not UTF-8 text (byte 0x{head[error.start]:02x} at offset {error.start}): "
                                  "dataset.files take UTF-8 .txt or .json/.jsonl files") from None


def _adaptable(module: nn.Module) -> bool:
    """A layer peft's LoRA can adapt: linear (or GPT-2's Conv1D), embedding, convolution."""
    return isinstance(module, (nn.Linear, nn.Embedding, nn.Conv1d, nn.Conv2d, nn.Conv3d)) or \
        type(module).__name__ == "Conv1D"


def check_model(cfg: BenchmarkConf) -> None:
    """The model, built on the meta device (shapes only, nothing downloaded; skipped for a hub model
    not on this machine), against what the cell will ask of it: ``dataset.block_size`` positions,
    ``pruner.pattern``'s M dividing every pruned layer's input width, ``retrain.lora.targets``
    naming layers it has. transformers refusing ``model.config`` is one line here too."""
    from benchmark.lm.corpus import vocab_size
    from benchmark.lm.models import meta_model
    from benchmark.lm.prune import prunable, weight_rows

    model = meta_model(cfg.model, vocab_size(cfg.dataset))
    if model is None:
        return
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and cfg.dataset.block_size > positions:
        where = "model.config.max_position_embeddings" if not cfg.model.pretrained else f"model.name={cfg.model.name!r}"
        raise ConfigError(f"dataset.block_size={cfg.dataset.block_size} is longer than the model's {positions} positions "
                          f"({where}): use a block of at most {positions} tokens")
    nm = parse_pattern(cfg.pruner.pattern) if isinstance(cfg.pruner, LMPrunerConf) and cfg.pruner.name != "none" else None
    if nm is not None:
        for name, layer in prunable(model).items():
            width = weight_rows(layer).shape[1]
            if width % nm[1]:
                raise ConfigError(f"pruner.pattern={cfg.pruner.pattern} keeps {nm[0]} of every {nm[1]} inputs, so every "
                                  f"pruned layer's input width must be divisible by {nm[1]}; {name} has {width}")
    if cfg.retrain.params == "lora" and list(cfg.retrain.lora.targets) != ["all-linear"]:
        modules = dict(model.named_modules())
        for target in cfg.retrain.lora.targets:  # peft's rule for a list: the full name, or its dotted suffix
            found = [m for n, m in modules.items() if n == target or n.endswith("." + target)]
            if not any(_adaptable(m) for m in found):
                linears = sorted({n.rsplit(".", 1)[-1] for n, m in modules.items() if _adaptable(m) and n})
                what = f"matches only {type(found[0]).__name__} layers" if found else "names no module of the model"
                raise ConfigError(f"retrain.lora.targets: {target!r} {what}; the layers LoRA can adapt are named "
                                  f"{', '.join(linears)} (or use all-linear)")
