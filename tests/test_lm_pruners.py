"""The LM pruners (benchmark/lm/pruners.py) against the authors' rules: Wanda as locuslab/wanda
defines it, SparseGPT's Hessian at IST-DASLab/sparsegpt's scale 2/n X^T X (and the dampening that
scale gives with dead inputs), ties broken by index order as the code says, and the exact
``int(n * sparsity)`` the suite prunes where the references' threshold rule prunes more."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.lm import pruners


# --- Wanda: the authors' rule, written here from the paper's definition --------------------------

def _wanda_by_definition(weight: torch.Tensor, x: torch.Tensor, sparsity: float) -> list:
    """S_ij = |W_ij| * ||X_j||_2 over every calibration token; in each output row the lowest
    int(cols * sparsity) scores pruned, equal scores in index order (the reference's stable sort)."""
    rows, cols = weight.shape
    norms = [math.sqrt(sum(float(v) ** 2 for v in x[:, j])) for j in range(cols)]
    keep = [[True] * cols for _ in range(rows)]
    for i in range(rows):
        ranked = sorted(range(cols), key=lambda j: (abs(float(weight[i, j])) * norms[j], j))
        for j in ranked[:int(cols * sparsity)]:
            keep[i][j] = False
    return keep


@pytest.mark.parametrize("sparsity", [0.5, 0.2, 0.75])
def test_wanda_equals_the_authors_rule_written_from_the_definition(sparsity):
    torch.manual_seed(0)
    x = torch.randn(40, 16) * torch.linspace(0.1, 3.0, 16)  # tokens x inputs, input norms far apart
    weight = torch.randn(8, 16)
    x[:, 5] = x[:, 4]  # equal input norms and equal |W|: exact score ties in every row
    weight[:, 5] = -weight[:, 4]
    keep = pruners.wanda_mask(weight, (x * x).sum(dim=0), sparsity)
    assert keep.tolist() == _wanda_by_definition(weight, x, sparsity)
    assert (keep.sum(dim=1) == 16 - int(16 * sparsity)).all()

    x = torch.randn(40, 1).repeat(1, 16)  # every input the same norm: rows of equal |W| tie throughout
    weight[:4] = 1.5 * torch.randn(4, 16).sign()
    weight[4:, 1::2] = weight[4:, 0::2]  # and pairs of ties in the other rows
    keep = pruners.wanda_mask(weight, (x * x).sum(dim=0), sparsity)
    assert keep.tolist() == _wanda_by_definition(weight, x, sparsity)


# --- SparseGPT's Hessian: 2/n X^T X, whatever the batch split --------------------------------------

def _direct(x: torch.Tensor) -> torch.Tensor:
    """2/n X^T X over all tokens, n = the number of sequences (x: sequences x tokens x inputs)."""
    flat = x.reshape(-1, x.shape[-1]).double()
    return 2.0 / x.shape[0] * flat.t() @ flat


@pytest.mark.parametrize("split", [[8], [2, 2, 2, 2], [3, 5], [1] * 8])
def test_the_hessian_is_the_authors_running_mean_whatever_the_batch_split(split):
    torch.manual_seed(1)
    x = torch.randn(8, 5, 6)  # 8 sequences of 5 tokens, 6 inputs
    acc, start = pruners.Hessian(), 0
    for size in split:
        acc.add(x[start:start + size].reshape(-1, 6), samples=size)  # flattened tokens, as OPT's fc1 sees them
        start += size
    assert acc.samples == 8
    torch.testing.assert_close(acc.H.double(), _direct(x), rtol=1e-5, atol=1e-6)


def test_calibration_hooks_give_every_layer_the_same_hessian_for_one_batch_or_four():
    """Through benchmark/lm/prune.py on a tiny OPT: n counts sequences also where a linear sees
    (batch x tokens, width) inputs (fc1, fc2), and 1 batch of 8 or 4 of 2 give one H = 2/8 X^T X."""
    pytest.importorskip("transformers")
    from transformers import AutoConfig, AutoModelForCausalLM

    from benchmark.lm.prune import _calibrate, prunable

    torch.manual_seed(0)
    config = AutoConfig.for_model("opt", vocab_size=16, hidden_size=16, ffn_dim=32, num_hidden_layers=1,
                                  num_attention_heads=2, max_position_embeddings=16, word_embed_proj_dim=16,
                                  pad_token_id=None)
    model = AutoModelForCausalLM.from_config(config).eval()
    layers = prunable(model)
    tokens = torch.randint(0, 16, (8, 12))
    seen = {name: [] for name in layers}
    handles = [m.register_forward_hook(lambda mod, inp, out, name=name: seen[name].append(inp[0].detach().clone()))
               for name, m in layers.items()]
    with torch.no_grad():
        model(input_ids=tokens)
    for h in handles:
        h.remove()
    one = _calibrate(model, layers, [tokens], gram=True)
    four = _calibrate(model, layers, list(tokens.split(2)), gram=True)
    assert set(one) == set(four) == set(layers) and len(layers) == 6
    for name in layers:
        flat = seen[name][0].reshape(-1, seen[name][0].shape[-1]).double()
        direct = 2.0 / 8 * flat.t() @ flat
        torch.testing.assert_close(one[name].double(), direct, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(four[name].double(), direct, rtol=1e-5, atol=1e-5)


# --- dead inputs: the dampening at the authors' scale ---------------------------------------------

def test_with_a_dead_input_the_dampening_is_percdamp_times_the_mean_diagonal_at_the_authors_scale():
    torch.manual_seed(2)
    x = torch.randn(4, 10, 6) * 0.1  # 4 sequences of 10 tokens, small activations: diag H ~ 0.05
    x[..., 2] = 0.0  # input 2 never active in calibration
    acc = pruners.Hessian()
    for part in x.split(1):
        acc.add(part, samples=1)
    H, dead, lam = pruners.dampen(acc.H, 0.01)
    assert dead.tolist() == [False, False, True, False, False, False]

    diag = torch.diag(_direct(x)).clone()  # the reference: H = 2/n X^T X, dead diag set to 1, then the mean
    diag[2] = 1.0
    expected = 0.01 * diag.mean().item()
    assert lam == pytest.approx(expected, rel=1e-6)
    assert H[2, 2].item() == pytest.approx(1.0 + expected, rel=1e-6)
    # the plain sum X^T X (what the suite used to accumulate, here 2x the authors' H) gives another
    # lambda relative to H: the dead input's 1 weighs less against the live diagonal
    _, _, lam_sum = pruners.dampen(_direct(x) * 4 / 2, 0.01)
    assert lam_sum / 2.0 < 0.9 * expected


def test_the_hessian_scale_changes_sparsegpt_only_through_dead_inputs():
    torch.manual_seed(3)
    x = 0.05 * torch.randn(16, 8, 12) @ torch.randn(12, 12)  # diag H ~ 0.03, of the order of a dead input's 1
    weight = torch.randn(6, 12)
    scaled, summed = _direct(x), _direct(x) * 16 / 2  # 2/n X^T X, and the plain X^T X
    a, keep_a = pruners.sparsegpt(weight, scaled, 0.5, blocksize=4)
    b, keep_b = pruners.sparsegpt(weight, summed, 0.5, blocksize=4)
    assert torch.equal(keep_a, keep_b)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)

    x[..., 7] = 0.0  # a dead input: lambda now depends on the scale
    scaled, summed = _direct(x), _direct(x) * 16 / 2
    a, _ = pruners.sparsegpt(weight, scaled, 0.5, blocksize=4)
    b, _ = pruners.sparsegpt(weight, summed, 0.5, blocksize=4)
    assert (a[:, 7] == 0).all() and (b[:, 7] == 0).all()
    assert not torch.allclose(a, b, rtol=1e-4, atol=1e-5)


# --- ties: the earlier index is pruned first, every run ------------------------------------------

def test_equal_magnitudes_prune_the_earlier_indices_every_time():
    for width in (6, 64, 1000):
        row = torch.ones(1, width) * torch.tensor([1.0, -1.0]).repeat(width // 2)
        for _ in range(3):
            assert (~pruners.magnitude_mask(row, 0.5)).nonzero()[:, 1].tolist() == list(range(width // 2))
            assert (~pruners.wanda_mask(row, torch.full((width,), 4.0), 0.5)).nonzero()[:, 1].tolist() \
                == list(range(width // 2))
    layer = torch.ones(2, 6)  # over the whole layer: row-major order, row 0 first
    assert pruners.magnitude_mask(layer, 0.5).tolist() == [[False] * 6, [True] * 6]
    two_four = pruners.wanda_mask(torch.ones(3, 8), torch.ones(8), 0.0, (2, 4))
    assert two_four.tolist() == [[False, False, True, True] * 2] * 3


def test_sparsegpt_breaks_ties_by_index_and_repeats_itself():
    """H diagonal: no error spreads between columns and every w^2 / U_jj^2 of a block is equal."""
    weight, H = torch.ones(2, 8), 2.0 * torch.eye(8)
    runs = [pruners.sparsegpt(weight, H, 0.5, blocksize=4) for _ in range(3)]
    assert runs[0][1].tolist() == [[False] * 8, [True] * 8]  # each 2 x 4 block: its row 0 first
    assert all(torch.equal(r[0], runs[0][0]) and torch.equal(r[1], runs[0][1]) for r in runs)
    _, keep = pruners.sparsegpt(weight, H, 0.0, (2, 4), blocksize=8)
    assert keep.tolist() == [[False, False, True, True] * 2] * 2


# --- exactly int(n * sparsity), where the references' threshold prunes more ----------------------

def _reference_threshold_count(scores: torch.Tensor, sparsity: float) -> int:
    """The magnitude / SparseGPT references: prune every score <= the sorted one at int(n * s)."""
    flat = scores.flatten()
    return int((flat <= torch.sort(flat).values[int(flat.numel() * sparsity)]).sum())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_magnitude_prunes_exactly_int_n_s_of_the_layer(dtype):
    torch.manual_seed(4)
    weight = (torch.randint(1, 6, (8, 10)) * torch.randn(8, 10).sign()).to(dtype)  # |W| in 1..5: many ties
    for sparsity in (0.5, 0.33, 0.9):
        keep = pruners.magnitude_mask(weight, sparsity)
        assert int((~keep).sum()) == int(80 * sparsity)
        assert keep[weight.abs() > weight.abs()[~keep].max()].all()  # what is pruned is the smallest
        assert _reference_threshold_count(weight.abs().float(), sparsity) > int(80 * sparsity)


def test_sparsegpt_prunes_exactly_int_n_s_of_each_block():
    torch.manual_seed(5)
    x = torch.randn(64, 20)
    weight = torch.randn(6, 20)
    new, keep = pruners.sparsegpt(weight, 2.0 / 64 * x.t() @ x, 0.3, blocksize=8)  # blocks of 8, 8, 4 columns
    pruned = [int((~keep[:, a:b]).sum()) for a, b in ((0, 8), (8, 16), (16, 20))]
    assert pruned == [int(48 * 0.3), int(48 * 0.3), int(24 * 0.3)] == [14, 14, 7]
    assert (new[~keep] == 0).all()
