"""A new user's language-model mistakes fail in one line naming the key, before anything trains.

Each was a traceback or a late error before (issue 28, item 6): LoRA targets the model lacks (a
peft error after dense training and pruning), heads that do not divide the width (a traceback in
plan mode), a block longer than the model's positions (IndexError), too few training or test
tokens for one block (ZeroDivisionError, KeyError 'test_ppl' after retraining), an N:M pattern the
layers cannot take (refused only after training), an empty or binary local file (a generic
"do not load as text"), and a vision config given one language-model group. Each test also has a
control: the same config without the mistake passes, so the check is not refusing everything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

import pytest

for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_key] = "1"

pytest.importorskip("transformers")

from benchmark.errors import ConfigError  # noqa: E402
from benchmark.validation import validate  # noqa: E402
from tests.conftest import compose_config  # noqa: E402
from tests.test_lm import TINY_LM  # noqa: E402  (hidden 32, 2 heads, 32 positions, blocks of 32)


def _refused(overrides: List[str], match: str) -> str:
    """validate() refuses the tiny LM cell with ``overrides`` in one line matching ``match``."""
    with pytest.raises(ConfigError, match=match) as info:
        validate(compose_config([*TINY_LM, *overrides]))
    message = str(info.value)
    assert "\n" not in message and message.strip() == message and message
    return message


def _passes(overrides: List[str]) -> None:
    """The control: without the mistake the same cell passes the checks (T = 1 epoch)."""
    assert validate(compose_config([*TINY_LM, *overrides])) == 1


def _nothing_trained(cache: Path) -> None:
    assert not (cache / "baselines").exists() and not (cache / "pruned").exists() and not (cache / "cells").exists()


# --- the model against the rest of the cell -------------------------------------------------------

def test_lora_targets_the_model_lacks_are_one_line_naming_retrain_lora_targets(tmp_path):
    pytest.importorskip("peft")
    from benchmark.cell import run_cell

    # OPT names its attention projections q_proj/k_proj/v_proj; q_lin/v_lin are DistilBERT's.
    message = _refused(["retrain.params=lora", "retrain.lora.targets=[q_lin,v_lin]"],
                       r"^retrain\.lora\.targets: 'q_lin' names no module of the model")
    assert "q_proj" in message and "v_proj" in message  # says what the model has instead
    _refused(["retrain.params=lora", "retrain.lora.targets=[q_proj,v_lin]"], r"^retrain\.lora\.targets: 'v_lin'")
    _refused(["retrain.params=lora", "retrain.lora.targets=[final_layer_norm]"],
             r"^retrain\.lora\.targets: 'final_layer_norm' matches only LayerNorm layers")
    _passes(["retrain.params=lora", "retrain.lora.targets=[q_proj,v_proj]"])
    _passes(["retrain.params=lora", "retrain.lora.targets=[self_attn.out_proj]"])  # peft's dotted suffix
    cfg = compose_config([*TINY_LM, "retrain.params=lora", "retrain.lora.targets=[q_lin]",
                          f"paths.cache={tmp_path / 'cache'}"])
    with pytest.raises(ConfigError, match=r"^retrain\.lora\.targets"):
        run_cell(cfg, tmp_path / "out")
    _nothing_trained(tmp_path / "cache")


@pytest.mark.parametrize("overrides,key", [
    (["model.config.num_attention_heads=3"], "model.config.num_attention_heads=3 does not divide model.config.hidden_size=32"),
    (["model.config.model_type=llama", "~model.config.ffn_dim", "~model.config.word_embed_proj_dim",
      "model.config.num_attention_heads=3"], "model.config.num_attention_heads=3 does not divide model.config.hidden_size=32"),
    (["model.config.model_type=gpt2", "~model.config.hidden_size", "~model.config.num_attention_heads",
      "~model.config.ffn_dim", "~model.config.word_embed_proj_dim", "~model.config.max_position_embeddings",
      "+model.config.n_embd=32", "+model.config.n_head=5"], "model.config.n_head=5 does not divide model.config.n_embd=32"),
], ids=["opt", "llama", "gpt2"])
def test_heads_that_do_not_divide_the_hidden_size_are_one_line_in_validation_and_plan_mode(overrides, key):
    from benchmark.plan import plan_cell

    _refused(overrides, "^" + key.replace(".", r"\."))
    with pytest.raises(ConfigError, match="^" + key.replace(".", r"\.")):  # plan mode was a ValueError traceback
        plan_cell(compose_config([*TINY_LM, *overrides]))
    _passes([o.replace("heads=3", "heads=4").replace("n_head=5", "n_head=4") for o in overrides])


def test_a_block_longer_than_the_models_positions_is_one_line_naming_dataset_block_size():
    message = _refused(["dataset.block_size=64"], r"^dataset\.block_size=64 is longer than the model's 32 positions")
    assert "model.config.max_position_embeddings" in message
    _passes(["dataset.block_size=64", "model.config.max_position_embeddings=64"])
    _passes(["dataset.block_size=16"])


@pytest.mark.parametrize("pattern,width", [("2:3", 3), ("1:5", 5)])
def test_an_nm_pattern_the_layers_cannot_take_is_refused_before_training_and_in_plan_mode(pattern, width, tmp_path):
    """Every pruned layer of the tiny OPT has input width 32 or 64, divisible by 4 but not by 3 or 5."""
    from benchmark.cell import run_cell
    from benchmark.plan import plan_cell

    key = rf"^pruner\.pattern={pattern} .*divisible by {width}; model\.decoder\.layers\.0\.\S+ has (32|64)"
    _refused([f"pruner.pattern={pattern}"], key)
    with pytest.raises(ConfigError, match=key):
        plan_cell(compose_config([*TINY_LM, f"pruner.pattern={pattern}"]))
    with pytest.raises(ConfigError, match=key):
        run_cell(compose_config([*TINY_LM, f"pruner.pattern={pattern}", f"paths.cache={tmp_path / 'cache'}"]),
                 tmp_path / "out")
    _nothing_trained(tmp_path / "cache")
    _passes(["pruner.pattern=2:4"])
    _passes(["pruner.pattern=2:4", "pruner=sparsegpt"])


def test_sparsegpt_nm_groups_that_straddle_its_column_blocks_are_refused():
    """SparseGPT picks each group of M columns inside a block of ``blocksize`` columns: with 6 and
    M = 4 the second group of the first block would be 2 columns, both pruned."""
    _refused(["pruner=sparsegpt", "pruner.pattern=2:4", "pruner.blocksize=6"],
             r"^pruner\.blocksize=6 must be a multiple of M=4 for pruner\.pattern=2:4")
    _passes(["pruner=sparsegpt", "pruner.pattern=2:4", "pruner.blocksize=8"])
    # only SparseGPT works in blocks: another pruner never reads the setting, so it is refused as such
    _refused(["pruner=wanda", "pruner.pattern=2:4", "pruner.blocksize=6"], r"^pruner\.blocksize=6 is refused: only pruner=sparsegpt")


def test_a_vision_config_given_one_language_model_group_names_the_group_it_saw():
    for group, seen in (("model=causal_lm", "model=causal_lm"), ("recipe=lm", "recipe=lm"),
                        ("pruner=wanda", "pruner=wanda"), ("pruner=sparsegpt", "pruner=sparsegpt")):
        with pytest.raises(ConfigError) as info:
            validate(compose_config([group]))
        message = str(info.value)
        assert message.startswith(f"{seen} is a language-model group; ") and "dataset=cifar10" in message, message
        assert "\n" not in message
    with pytest.raises(ConfigError, match=r"^model=causal_lm, pruner=wanda are language-model groups; .*dataset=synthetic"):
        validate(compose_config(["dataset=synthetic", "model=causal_lm", "pruner=wanda"]))


# --- the data ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("key,why", [("train_tokens", "train on"), ("test_tokens", "test perplexity"),
                                     ("val_tokens", "0 turns it off")])
def test_a_split_under_one_block_is_one_line_naming_its_token_count(key, why, tmp_path):
    """train_tokens=16 was a ZeroDivisionError; test_tokens=16 a KeyError 'test_ppl' after retraining."""
    from benchmark.cell import run_cell

    _refused([f"dataset.{key}=16"], rf"^dataset\.{key}=16 is under one block of dataset\.block_size=32 tokens: .*{why}")
    with pytest.raises(ConfigError, match=rf"^dataset\.{key}=16"):
        run_cell(compose_config([*TINY_LM, f"dataset.{key}=16", f"paths.cache={tmp_path / 'cache'}"]), tmp_path / "out")
    _nothing_trained(tmp_path / "cache")
    _passes([f"dataset.{key}=32"])  # exactly one block is enough
    _passes(["dataset.val_tokens=0"])  # validation off


def _files(tmp_path: Path, train: bytes, test: bytes = b"some test text\n" * 200) -> List[str]:
    folder = tmp_path / "text"
    folder.mkdir(exist_ok=True)
    (folder / "train.txt").write_bytes(train)
    (folder / "validation.txt").write_bytes(b"validation text\n" * 200)
    (folder / "test.txt").write_bytes(test)
    return ["dataset.source=files", "dataset.tokenizer=bytes",
            *[f"dataset.files.{split}=[{folder / split}.txt]" for split in ("train", "validation", "test")]]


@pytest.mark.parametrize("content,problem", [
    (b"", "is empty"),
    (b"\n  \n\t\n", r"is empty \(only whitespace\)"),
    (bytes(range(256)) * 8, r"is binary, not text \(a NUL byte at offset 0\)"),
    (b"caf\xe9 au lait\n" * 100, r"is not UTF-8 text \(byte 0xe9 at offset 3\)"),
], ids=["empty", "blank", "binary", "latin1"])
def test_an_empty_or_binary_local_file_is_one_line_naming_the_file_and_the_cause(content, problem, tmp_path):
    given = _files(tmp_path, content)
    message = _refused(given, rf"^dataset\.files\.train\[0\]='[^']*train\.txt' {problem}")
    assert str(tmp_path / "text" / "train.txt") in message
    _passes(_files(tmp_path, "some training text, café\n".encode() * 400))  # UTF-8 with a two-byte character


def test_a_missing_local_file_is_one_line_naming_it(tmp_path):
    given = _files(tmp_path, b"training text\n" * 400)
    given[-1] = f"dataset.files.test=[{tmp_path / 'nowhere.txt'}]"
    _refused(given, r"^dataset\.files\.test\[0\]='[^']*nowhere\.txt' is not a file")


def test_a_local_file_with_fewer_tokens_than_a_block_is_refused_as_the_data_opens_before_training(tmp_path):
    """Token counts of real text are known once it is read: the file is read as the data opens, and
    a test split shorter than one block (here 11 byte tokens < 32) stops the cell before the baseline."""
    from benchmark.cell import run_cell

    given = _files(tmp_path, b"training text\n" * 800, test=b"tiny test\n")
    cfg = compose_config([*TINY_LM, *given, f"paths.cache={tmp_path / 'cache'}"])
    assert validate(cfg) == 1  # the file is not empty: what it holds is counted when it is read
    with pytest.raises(ConfigError, match=r"^dataset\.files\.test holds 10 tokens, fewer than one block of "
                                          r"dataset\.block_size=32$") as info:
        run_cell(cfg, tmp_path / "out")
    assert "\n" not in str(info.value)
    _nothing_trained(tmp_path / "cache")
