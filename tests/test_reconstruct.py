"""``retrain.objective=reconstruct``: each block of the pruned LM trained to reproduce the dense
block's output from the dense block's input (benchmark/lm/reconstruct.py), on the one engine."""

from __future__ import annotations

import copy
import os

import pytest
import torch
import torch.nn.functional as F

from benchmark.errors import ConfigError
from benchmark.validation import validate
from tests.conftest import compose_config

for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_key] = "1"


def _models():
    pytest.importorskip("transformers")
    from tests.test_lm import _pruned, _tiny_model

    dense = _tiny_model()
    pruned, masks = _pruned()
    return dense, pruned, masks


def _block_errors(dense, pruned, batch):
    """Each block's MSE against the dense block, computed here with the blocks called one by one in
    a full forward of each model (independent of the module under test's hooks)."""
    from benchmark.lm.prune import blocks

    seen = {}
    for tag, model in (("dense", dense), ("pruned", pruned)):
        outs = []
        handles = [b.register_forward_hook(lambda m, i, o, outs=outs: outs.append(o[0] if isinstance(o, tuple) else o))
                   for _, b in blocks(model)]
        with torch.no_grad():
            model.eval()
            model(batch)
        for h in handles:
            h.remove()
        seen[tag] = outs
    return [F.mse_loss(p, d).item() for p, d in zip(seen["pruned"], seen["dense"])]


def test_a_model_reconstructs_itself_exactly_and_a_pruned_one_does_not():
    from benchmark.lm.reconstruct import reconstruction_loss

    dense, pruned, _ = _models()
    batch = torch.randint(0, 16, (4, 32))
    twin = copy.deepcopy(dense)
    dense.eval(), twin.eval(), pruned.eval()
    assert reconstruction_loss(dense, twin, twin, batch).item() == 0.0
    assert reconstruction_loss(dense, pruned, pruned, batch).item() > 0.0


def test_the_loss_is_local_no_gradient_reaches_the_embeddings_or_the_head():
    """Each block is fed the dense block's input, so nothing before the first block (embeddings)
    or after the last (final norm, head) receives a gradient, while every block does."""
    from benchmark.lm.prune import blocks
    from benchmark.lm.reconstruct import reconstruction_loss

    dense, pruned, _ = _models()
    pruned.train()
    reconstruction_loss(dense, pruned, pruned, torch.randint(0, 16, (4, 32))).backward()
    assert pruned.model.decoder.embed_tokens.weight.grad is None
    assert pruned.lm_head.weight.grad is None or pruned.lm_head.weight.grad.abs().sum() == 0
    for name, block in blocks(pruned):
        grads = [p.grad for p in block.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), name


def test_image_cells_refuse_the_objective_and_language_models_hash_it():
    from benchmark.tasks import cell_identity
    from tests.test_lm import TINY_LM

    with pytest.raises(ConfigError, match=r"^retrain\.objective=reconstruct is refused for image cells"):
        validate(compose_config(["retrain.objective=reconstruct"]))
    plain = compose_config([*TINY_LM])
    recon = compose_config([*TINY_LM, "retrain.objective=reconstruct"])
    assert validate(recon) == validate(plain)
    a, b = cell_identity(plain, 1), cell_identity(recon, 1)
    assert (a.baseline, a.pruned) == (b.baseline, b.pruned) and a.cell != b.cell


@pytest.mark.cell
def test_a_reconstruct_cell_lowers_every_blocks_error_and_keeps_the_masks(tmp_path):
    pytest.importorskip("transformers")
    from benchmark.cell import run_cell
    from benchmark.lm.corpus import BlockLoader
    from benchmark.lm.prune import prunable, weight_rows
    from benchmark.tasks.text import TEXT
    from tests.test_lm import TINY_LM

    overrides = [*TINY_LM, f"paths.cache={tmp_path / 'cache'}", "schedule=clr", "budget.epochs=2", "recipe.epochs=2"]
    cfg = compose_config([*overrides, "retrain.objective=reconstruct"])
    record = run_cell(cfg, tmp_path / "out")
    assert record.status == "finished" and record.name.endswith("-all-reconstruct")
    assert record.retraining["objective"] == "reconstruct"
    losses = [row["train_loss"] for row in record.history]
    assert losses[-1] < losses[0]  # the reconstruction error, not a next-token loss (which is ~2.7 here)
    assert losses[0] < 0.1

    cache = tmp_path / "cache"
    base = torch.load(cache / "baselines" / record.identity["baseline"] / "model.pt", weights_only=False)
    stage = torch.load(cache / "pruned" / record.identity["pruned"] / "model.pt", weights_only=False)
    final = torch.load(cache / "cells" / record.identity["cell"] / "model.pt", weights_only=False)
    device = torch.device("cpu")
    dense, pruned, retrained = (TEXT.dense(cfg, device) for _ in range(3))
    dense.load_state_dict(base["state_dict"])
    pruned.load_state_dict(stage["state_dict"])
    retrained.load_state_dict(final["state_dict"])
    data = TEXT.open_data(cfg, device)
    batch = next(iter(BlockLoader(data.splits.blocks("test", cfg.dataset.block_size), 16, device, None).epoch(0)))
    before, after = _block_errors(dense, pruned, batch), _block_errors(dense, retrained, batch)
    assert all(a < b for a, b in zip(after, before)), (before, after)
    for name, layer in prunable(retrained).items():
        assert (weight_rows(layer)[~stage["masks"][name]] == 0).all(), name
