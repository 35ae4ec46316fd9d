"""The language models' schemas (docs/language_models.md): the text data, the causal LM, its pruners,
and the retraining regimes (``retrain.*``, which image cells refuse). Each derives from the shared
groups' bases (:mod:`benchmark.fields`) alone, so no image field reaches a language-model cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from benchmark.fields import FRACTION, POSITIVE, SEED, DatasetGroup, ModelGroup, PrunerGroup, ranged


@dataclass
class MarkovConf:
    """The built-in corpus: a random order-k Markov source whose entropy rate is known exactly."""

    vocab: int = ranged(16, low=2)  # alphabet size (token ids 0..vocab-1)
    order: int = ranged(2, low=1, high=4)  # each token depends on the previous `order` tokens (2: attention is needed)
    concentration: float = ranged(0.2, **POSITIVE)  # Dirichlet concentration of each transition row: lower = more predictable
    seed: int = ranged(0, **SEED)  # draws the transition matrix and the token streams


@dataclass
class TextFilesConf:
    """``dataset.source=files``: local .txt or .json(l) files of each split, read through ``datasets``."""

    train: List[str] = field(default_factory=list)
    validation: List[str] = field(default_factory=list)
    test: List[str] = field(default_factory=list)


@dataclass
class TextDatasetConf(DatasetGroup):
    """Text packed into blocks of ``block_size`` tokens: the built-in Markov corpus, a hub dataset or local files."""

    name: str = "text"
    source: str = ranged("markov", choices=("markov", "hub", "files"))  # markov: built in, offline | hub: path/subset | files
    path: Optional[str] = None  # source=hub: a datasets hub name (wikitext, allenai/c4)
    subset: Optional[str] = None  # source=hub: its configuration (wikitext-2-raw-v1)
    files: TextFilesConf = field(default_factory=TextFilesConf)  # source=files: dataset.files.train=[a.txt,...], .txt or .json(l)
    text_field: str = "text"  # the column holding the text (hub, JSON)
    split_names: Dict[str, str] = field(default_factory=dict)  # the source's split for ours, e.g. {test: validation} (C4 has no test)
    tokenizer: Optional[str] = None  # null: the model's own (model.name) | bytes: one token per UTF-8 byte
    block_size: int = ranged(64, low=2)  # tokens per training and evaluation block
    train_tokens: int = ranged(131072, low=2)  # tokens of the train split used: one "epoch" is one pass over them
    val_tokens: int = ranged(0, low=0)  # tokens of the validation split evaluated (0: none)
    test_tokens: int = ranged(32768, low=2)  # tokens of the test split evaluated (perplexity)
    markov: MarkovConf = field(default_factory=MarkovConf)


@dataclass
class CausalLMConf(ModelGroup):
    """Any transformers causal LM: pretrained weights by ``name`` (hub id or local folder), or a
    configuration built from scratch (``config``, with ``model_type``) and trained by the recipe."""

    name: str = "opt-tiny"  # pretrained: the hub id or local path | otherwise a label for the config
    config: Dict[str, Any] = field(default_factory=dict)  # transformers config kwargs, with model_type (opt, llama, gpt2, ...)
    revision: Optional[str] = None  # pretrained hub weights: the commit, tag or branch (null: main)
    dtype: str = ranged("float32", choices=("float32", "bfloat16", "float16"))  # weights' dtype
    num_params: Optional[int] = ranged(None, low=1)  # plan mode only: the size of a hub model not on this machine


@dataclass
class LMPrunerConf(PrunerGroup):
    """One-shot pruning of every linear layer of the transformer blocks (benchmark/lm/pruners.py)."""

    name: str = "wanda"  # magnitude | wanda | sparsegpt
    sparsity: float = ranged(0.5, **FRACTION)  # unstructured: fraction of each layer's (wanda: each row's) weights zeroed
    pattern: str = "unstructured"  # unstructured | N:M (2:4: keep 2 of every 4 consecutive inputs)
    calibration_samples: int = ranged(128, low=1)  # training blocks the activations are taken from (wanda, sparsegpt)
    dampening: float = ranged(0.01, low=0)  # sparsegpt: lambda = dampening x mean(diag H)
    blocksize: int = ranged(128, low=1)  # sparsegpt: columns solved (and masks chosen) together


@dataclass
class LoraConf:
    """LoRA adapters through peft (retrain.params=lora)."""

    rank: int = ranged(8, low=1)
    alpha: float = ranged(16.0, **POSITIVE)  # the update is scaled by alpha / rank
    dropout: float = ranged(0.0, low=0, high=1, high_open=True)
    targets: List[str] = field(default_factory=lambda: ["all-linear"])  # peft target_modules; all-linear: every linear but the head
    masked: bool = True  # MaskLoRA (PERP): the update is masked in every forward, so merging keeps the sparsity exactly


@dataclass
class RetrainConf:
    """Which parameters retraining updates; pruned weights stay zero in every regime."""

    params: str = ranged("all", choices=("all", "biases_norms", "lora"))
    lora: LoraConf = field(default_factory=LoraConf)
    # what retraining minimises: the next-token loss, or each block's reconstruction of the dense
    # block's output from the dense block's input (PERP / "A Free Lunch": benchmark/lm/reconstruct.py)
    objective: str = ranged("next_token", choices=("next_token", "reconstruct"))

