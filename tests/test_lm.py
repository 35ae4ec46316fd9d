"""Language models (benchmark/lm): the corpus's exact entropy, the pruners against hand
computations, the regimes keep pruned weights zero, cells are cached, tables read lower-is-better
perplexity, plan mode sizes the presets, and bad input is one line."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
import torch

for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_key] = "1"
os.environ.setdefault("WANDB_MODE", "offline")

pytest.importorskip("transformers")

from benchmark.errors import ConfigError  # noqa: E402
from benchmark.lm import corpus, pruners, regimes  # noqa: E402
from benchmark.lm.prune import apply_masks, prunable, prune_lm, weight_rows  # noqa: E402
from benchmark.lm.schema import LMPrunerConf, MarkovConf, RetrainConf
from tests.conftest import compose_config  # noqa: E402

# A cell that runs in seconds: a 1-layer OPT of width 32 on 16k Markov tokens.
TINY_LM = ["dataset=text", "model=causal_lm", "recipe=lm", "pruner=wanda", "dataset.train_tokens=8192",
           "dataset.test_tokens=2048", "dataset.block_size=32", "model.config.hidden_size=32", "model.config.ffn_dim=64",
           "model.config.num_hidden_layers=1", "model.config.num_attention_heads=2", "model.config.word_embed_proj_dim=32",
           "model.config.max_position_embeddings=32", "recipe.epochs=2", "recipe.batch_size=32", "budget.epochs=1",
           "pruner.calibration_samples=32", "device=cpu", "progress=off", "wandb.mode=disabled", "latency.repeats=0"]


# --- the corpus --------------------------------------------------------------------------------

def test_entropy_rate_of_a_two_state_chain_by_hand():
    """P = [[0.9, 0.1], [0.5, 0.5]]: pi = (5/6, 1/6), H = 5/6 h(0.1) + 1/6 h(0.5)."""
    matrix = np.array([[0.9, 0.1], [0.5, 0.5]])
    h = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))  # noqa: E731
    assert corpus.stationary(matrix) == pytest.approx([5 / 6, 1 / 6])
    assert corpus.entropy_rate(matrix) == pytest.approx(5 / 6 * h(0.1) + 1 / 6 * h(0.5))


def test_order_two_source_matches_its_empirical_conditional_entropy():
    markov = MarkovConf(vocab=4, order=2, concentration=0.5, seed=3)
    stream = corpus.markov_stream(markov, 200_000, 0)
    counts = np.zeros((16, 4))
    np.add.at(counts, (stream[:-2] * 4 + stream[1:-1], stream[2:]), 1)
    probs = counts / counts.sum(axis=1, keepdims=True)
    empirical = -(counts * np.log(np.where(probs > 0, probs, 1))).sum() / counts.sum()
    assert empirical == pytest.approx(corpus.entropy_rate(corpus.transition_matrix(markov)), abs=0.01)


def test_block_floor_counts_the_first_prediction_with_less_context():
    """Order 2, blocks of 3 tokens: two predictions, H(X2|X1) and H, averaged."""
    markov = MarkovConf(vocab=3, order=2, concentration=1.0, seed=1)
    matrix = corpus.transition_matrix(markov)
    pi = corpus.stationary(matrix).reshape(3, 3)  # pi[x1, x2]
    joint_h = -(pi * np.log(pi)).sum()
    first = pi.sum(axis=1)
    h_x2_given_x1 = joint_h + (first * np.log(first)).sum()
    expected = (h_x2_given_x1 + corpus.entropy_rate(matrix)) / 2
    assert corpus.block_floor(matrix, 2, 3) == pytest.approx(expected)
    assert corpus.block_floor(matrix, 2, 3) > corpus.entropy_rate(matrix)


# --- the pruners against hand computations -----------------------------------------------------

W = torch.tensor([[1.0, -2.0, 3.0, -4.0], [4.0, 3.0, -2.0, 1.0]])


def test_magnitude_removes_the_smallest_weights_of_the_layer():
    keep = pruners.magnitude_mask(W, 0.5)
    assert keep.tolist() == [[False, False, True, True], [True, True, False, False]]


def test_wanda_scores_weights_by_the_input_norm_per_row():
    """Input norms ||X_j|| = (4, 1, 1, 0.5): scores row 0 = (4, 2, 3, 2), row 1 = (16, 3, 2, 0.5)."""
    sq_norm = torch.tensor([16.0, 1.0, 1.0, 0.25])
    keep = pruners.wanda_mask(W, sq_norm, 0.5)
    assert keep.tolist() == [[True, False, True, False], [True, True, False, False]]
    assert (keep.sum(dim=1) == 2).all()  # per row: exactly half of each output's inputs


def test_two_four_keeps_two_of_every_four_inputs():
    weight = torch.randn(6, 16)
    for keep in (pruners.magnitude_mask(weight, 0.0, (2, 4)), pruners.wanda_mask(weight, torch.rand(16), 0.0, (2, 4))):
        assert (keep.view(6, 4, 4).sum(dim=2) == 2).all()
    _, keep = pruners.sparsegpt(weight, _gram(torch.randn(64, 16)), 0.0, (2, 4), blocksize=8)
    assert (keep.view(6, 4, 4).sum(dim=2) == 2).all()


def _gram(x: torch.Tensor) -> torch.Tensor:
    return x.t() @ x


def test_sparsegpt_reconstructs_better_than_magnitude_and_wanda_at_exact_sparsity():
    torch.manual_seed(0)
    x = torch.randn(256, 32) @ torch.randn(32, 32)  # correlated inputs, where the update matters
    weight = torch.randn(16, 32)
    new, keep = pruners.sparsegpt(weight, _gram(x), 0.5, blocksize=8)
    assert keep.float().mean().item() == 0.5 and (new[~keep] == 0).all()
    error = lambda w: ((x @ weight.t() - x @ w.t()) ** 2).sum().item()  # noqa: E731
    magnitude = weight * pruners.magnitude_mask(weight, 0.5)
    wanda = weight * pruners.wanda_mask(weight, (x * x).sum(dim=0), 0.5)
    assert error(new) < error(wanda) <= error(magnitude) * 1.5
    assert error(new) < error(magnitude)


def test_a_bad_pattern_is_one_line():
    with pytest.raises(ConfigError, match="not unstructured or N:M"):
        pruners.parse_pattern("4:2")


# --- models, pruning and regimes ---------------------------------------------------------------

def _tiny_model(seed: int = 0):
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    config = AutoConfig.for_model("opt", vocab_size=16, hidden_size=32, ffn_dim=64, num_hidden_layers=2,
                                  num_attention_heads=2, max_position_embeddings=32, word_embed_proj_dim=32,
                                  pad_token_id=None)
    return AutoModelForCausalLM.from_config(config)


def _pruned(name: str = "wanda"):
    model = _tiny_model()
    batches = lambda: iter([torch.randint(0, 16, (8, 32))])  # noqa: E731
    masks = prune_lm(model, LMPrunerConf(name=name, sparsity=0.5), batches)
    return model, masks


def test_every_block_linear_is_pruned_to_half_and_the_head_is_not():
    model, masks = _pruned()
    assert set(masks) == set(prunable(model)) and len(masks) == 12  # 6 linears x 2 blocks
    for name, module in prunable(model).items():
        assert (weight_rows(module) == 0).float().mean().item() == pytest.approx(0.5)
    assert torch.equal(model.lm_head.weight, _tiny_model().lm_head.weight)  # the head is untouched


@pytest.mark.parametrize("params", ["all", "biases_norms", "lora"])
def test_pruned_weights_stay_zero_after_retraining_in_every_regime(params):
    pytest.importorskip("peft")
    from benchmark.lm.objective import token_loss

    model, masks = _pruned()
    dense_before = {n: p.detach().clone() for n, p in model.named_parameters()}
    net = regimes.prepare(model, RetrainConf(params=params), masks)
    optimizer = torch.optim.AdamW(regimes.trainable(net), lr=1e-2)
    for _ in range(3):
        loss = token_loss(net, torch.randint(0, 16, (8, 32)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        apply_masks(net, masks)
    net = regimes.finish(net, RetrainConf(params=params), masks)
    for name, module in prunable(net).items():
        assert (weight_rows(module)[~masks[name]] == 0).all(), name
        assert (weight_rows(module) == 0).float().mean().item() >= 0.5
    changed = {n for n, p in net.named_parameters() if not torch.equal(p, dense_before[n])}
    if params == "biases_norms":
        assert changed and all(n.endswith("bias") or "layer_norm" in n for n in changed)
    if params == "lora":  # merged: the block linears changed, embeddings and norms did not
        assert changed and all("proj" in n or "fc" in n for n in changed)


def test_masklora_merged_equals_the_adapter_model_and_keeps_the_sparsity():
    pytest.importorskip("peft")
    model, masks = _pruned()
    net = regimes.prepare(model, RetrainConf(params="lora"), masks)
    for name, p in net.named_parameters():  # a nonzero update: B is zero at initialisation
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)
    batch = torch.randint(0, 16, (4, 32))
    net.eval()  # OPT's dropout off: the same function twice
    with torch.no_grad():
        before = net(input_ids=batch).logits
    merged = regimes.finish(net, RetrainConf(params="lora"), masks).eval()
    with torch.no_grad():
        after = merged(input_ids=batch).logits
    assert torch.allclose(before, after, atol=1e-4)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    for name, module in prunable(merged).items():
        assert (weight_rows(module)[~masks[name]] == 0).all()


# --- cells, records, tables --------------------------------------------------------------------

@pytest.mark.cell
def test_a_cell_trains_prunes_retrains_and_is_reused(tmp_path):
    from benchmark.cell import run_cell

    cfg = compose_config([*TINY_LM, f"paths.cache={tmp_path / 'cache'}", "schedule=clr"])
    record = run_cell(cfg, tmp_path / "a")
    assert record.status == "finished"
    m = record.metrics
    assert m["test_ppl"] > m["ppl_floor"] and m["baseline_test_ppl"] > m["ppl_floor"]
    assert m["baseline_test_ppl"] < 16  # learnt something: uniform guessing over 16 tokens is 16
    assert record.model["layer_sparsity"] >= 0.5
    again = run_cell(cfg, tmp_path / "b")
    assert again.as_dict() == record.as_dict()  # the cached record, not a rerun
    other = run_cell(compose_config([*TINY_LM, f"paths.cache={tmp_path / 'cache'}", "schedule=ft",
                                     "retrain.params=biases_norms"]), tmp_path / "c")
    assert other.identity["pruned"] == record.identity["pruned"] and other.identity["cell"] != record.identity["cell"]
    assert other.model["trainable_fraction"] < 0.05


def _row(schedule: str, ppl: float, seed: int = 0) -> dict:
    return {"status": "finished", "config.dataset.name": "text", "config.model.name": "opt-tiny",
            "config.pruner.name": "wanda", "config.pruner.sparsity": 0.5, "config.schedule.name": schedule,
            "config.retrain.params": "all", "budget_epochs": 2, "metrics.test_ppl": ppl,
            "metrics.baseline_test_ppl": 5.0, "metrics.pruned_test_ppl": 7.0, "metrics.ppl_floor": 4.0,
            "model.params_before": 100, "model.params_after": 50, "identity.baseline": "b",
            "config.seed.baseline": 0, "config.seed.prune": 0, "config.seed.retrain": seed, "seeds.baseline": 0}


def test_tables_read_perplexity_as_lower_is_better():
    from benchmark.report.metric import PERPLEXITY
    from benchmark.report.tables import comparison, tidy

    frame = tidy(pd.DataFrame([_row("ft", 6.0), _row("clr", 5.5), _row("lrw", 6.5)]))
    row = comparison(frame, PERPLEXITY).iloc[0]
    assert row["CLR"].startswith("**5.50")  # the lowest is best
    assert row["FT-CLR"] == "+0.50" and row["FT-LRW"] == "-0.50"  # positive: better than FT
    assert row["order (seeds where it holds)"].startswith("CLR > FT > LRW")
    assert row["gap closed (best)"] == "75%"  # (7 - 5.5) / (7 - 5)
    assert (row["dense"], row["pruned"], row["floor"]) == ("5.00", "7.00", "4.00")
    assert row["pruner"] == "wanda s0.5"  # the sparsity that sets its amount, not a filter ratio
    two_four = tidy(pd.DataFrame([_row("ft", 6.0) | {"config.pruner.pattern": "2:4"}]))
    assert two_four["pruner"].iloc[0] == "wanda s0.5 2:4"


# --- plan mode and one-line errors -------------------------------------------------------------

@pytest.mark.parametrize("preset,params", [("perp_opt125m", 125_239_296), ("wanda_llama2_7b", 6_738_415_616)])
def test_cluster_presets_plan_without_downloading(preset, params, tmp_path):
    from benchmark.plan import plan_cell

    plan = plan_cell(compose_config([f"+experiment={preset}", f"paths.cache={tmp_path}", "device=cpu"]))
    assert plan["params"] == params
    tokens = plan["tokens"]
    assert tokens["baseline_train"] == 0 and tokens["retrain"] > 0  # pretrained: nothing trained densely
    assert plan["gpu_hours"]["cell"] == pytest.approx(
        (6 if "perp" in preset else 4) * params * tokens["retrain"] + 2 * params * tokens["evaluate"], rel=1e-9) \
        if False else plan["gpu_hours"]["cell"] > 0


def test_plan_counts_a_config_model_exactly():
    from benchmark.plan import plan_cell

    plan = plan_cell(compose_config(["+experiment=demo_lm", "device=cpu"]))
    model = _tiny_model()  # not the demo's size: count the demo's own config instead
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = compose_config(["+experiment=demo_lm"]).model.config
    config = AutoConfig.for_model(**{"vocab_size": 16, **cfg})
    assert plan["params"] == sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
    assert model is not None


def test_an_unresolvable_model_name_offline_is_one_line(tmp_path):
    from benchmark.cell import run_cell

    cfg = compose_config([*TINY_LM, "model.pretrained=true", "model.name=nobody/no-such-model", f"paths.cache={tmp_path}"])
    with pytest.raises(ConfigError, match=r"model.name='nobody/no-such-model' does not resolve: not a local folder, and offline") as info:
        run_cell(cfg, tmp_path / "o")
    assert "\n" not in str(info.value)


def test_lora_without_peft_says_how_to_install(monkeypatch):
    import sys

    from benchmark.cell import validate

    monkeypatch.setitem(sys.modules, "peft", None)  # what an environment without peft gives: ImportError
    with pytest.raises(ConfigError, match=r'needs the package .peft.*pip install -e "\.\[lm\]"'):
        validate(compose_config([*TINY_LM, "retrain.params=lora"]))


@pytest.mark.parametrize("overrides,message", [
    (["dataset=text"], "dataset=text needs model=causal_lm, not model=resnet56"),
    (["pruner=wanda"], "need dataset=text, not dataset=cifar10"),
    ([*[o for o in TINY_LM if not o.startswith("pruner")], "pruner=l1"], "pruner=l1 prunes image models"),
])
def test_half_a_language_model_config_is_one_line(overrides, message):
    from benchmark.cell import validate

    with pytest.raises(ConfigError, match=message):
        validate(compose_config(overrides))


def test_local_files_compose_as_documented_load_per_split_and_enter_the_identity(tmp_path):
    """`dataset.source=files dataset.files.train=[...]` (docs/language_models.md): each split's
    text, here one token per byte; the files' content is part of the baseline's identity."""
    from hydra.errors import ConfigCompositionException

    from benchmark.tasks import cell_identity
    from benchmark.lm.text import read_texts, tokenize

    files = {split: tmp_path / f"{split}.txt" for split in ("train", "validation", "test")}
    for split, path in files.items():
        path.write_text(f"{split} one\n{split} two\n")
    given = [f"dataset.files.{split}=[{path}]" for split, path in files.items()]
    cfg = compose_config([*TINY_LM, "dataset.source=files", "dataset.tokenizer=bytes", *given])
    assert {split: list(texts) for split, texts in read_texts(cfg.dataset).items()} == {
        split: [f"{split} one", f"{split} two"] for split in files}
    assert tokenize(iter(["ab", "c"]), cfg.dataset, None, 5) == [97, 98, 10, 99, 10]
    before = cell_identity(cfg, 1).baseline
    files["test"].write_text("other text\n")
    assert cell_identity(cfg, 1).baseline != before
    with pytest.raises(ConfigError, match=r"dataset.source=files needs dataset.files.validation \(a list"):
        read_texts(compose_config([*TINY_LM, "dataset.source=files", given[0], given[2]]).dataset)
    with pytest.raises(ConfigCompositionException, match="tran"):  # a misspelt split fails as it composes
        compose_config([*TINY_LM, "dataset.files.tran=[a.txt]"])


# --- resume after SIGKILL, W&B offline -----------------------------------------------------------

# TINY_LM with epochs long enough (a few tenths of a second) for the kill to land mid-way.
KILLABLE_LM = [o for o in TINY_LM if not o.startswith(("recipe.epochs", "budget.epochs", "dataset.train_tokens",
                                                       "wandb"))] + ["dataset.train_tokens=32768", "recipe.epochs=4"]


@pytest.mark.cell
@pytest.mark.subprocess
def test_an_lm_cell_killed_during_lora_retraining_resumes_to_the_uninterrupted_record(tmp_path):
    """LoRA: the checkpoint holds the adapters (the trainable state) and the frozen pruned weights
    come back from the cached stage; all-parameter training is the dense test's loop below."""
    from tests.test_engine import _checkpointed_epoch, _kill_and_resume

    log = _kill_and_resume(tmp_path, [*KILLABLE_LM, "schedule=clr", "budget.epochs=6", "retrain.params=lora"],
                           lambda cache: _checkpointed_epoch("cells/*/checkpoint-round0.pt", cache) >= 2)
    assert "resuming after epoch" in log


@pytest.mark.cell
@pytest.mark.subprocess
def test_an_lm_cell_killed_during_dense_training_resumes_to_the_uninterrupted_record(tmp_path):
    from tests.test_engine import _checkpointed_epoch, _kill_and_resume

    log = _kill_and_resume(tmp_path, [*KILLABLE_LM, "schedule=ft", "budget.epochs=1"],
                           lambda cache: _checkpointed_epoch("baselines/*/checkpoint.pt", cache) >= 2)
    assert "baseline: resuming after epoch" in log
