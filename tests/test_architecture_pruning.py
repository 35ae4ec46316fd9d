"""Every pruner on every issue-15 architecture, through the suite's cell and its pruned-stage storage."""

from __future__ import annotations

import pytest
import torch

from benchmark import pruning, stages
from benchmark.cell import run_cell
from benchmark.models import build_model
from benchmark.models.schema import MobileNetV2Conf, ModelConf, ViTConf
from benchmark.pruning.counting import count_params
from benchmark.pruning.schema import PrunerConf
from benchmark.tasks import image
from benchmark.tasks import cell_identity

# Tiny widths: each cell trains its baseline and retrains in seconds on the CPU.
TINY_MODELS = {
    "vgg19": ["model=vgg19", "model.width=0.125"],
    "preresnet110": ["model=preresnet110", "model.width=0.25"],
    "densenet40": ["model=densenet40", "model.width=0.25"],
    "mobilenetv2": ["model=mobilenetv2", "model.width=0.25"],
    "vit": ["model=vit", "model.width=0.25", "model.depth=2"],
}
TINY_CONFS = {
    "vgg19": ModelConf(name="vgg19", width=0.125),
    "preresnet110": ModelConf(name="preresnet110", width=0.25),
    "densenet40": ModelConf(name="densenet40", width=0.25),
    "mobilenetv2": MobileNetV2Conf(width=0.25),
    "vit": ViTConf(width=0.25, depth=2),
}


def _heads(model):
    return [b.attn.num_heads for b in model.net.blocks] if hasattr(model, "attention_heads") else None


# Filter pruning on every model; weight pruning where it masks something new (the ViT's linears).
CELLS = [(name, "l1") for name in sorted(TINY_MODELS)] + [("vit", "mwp"), ("densenet40", "mwp")]
# One epoch of 2 batches each way, no latency timing: training steps, not accuracy, are tested.
SMALL = ["dataset=synthetic", "dataset.train_size=64", "dataset.test_size=32", "recipe.batch_size=32",
         "recipe.epochs=1", "recipe.milestones=[]", "budget.epochs=1", "latency.repeats=0"]


@pytest.mark.cell
@pytest.mark.parametrize("name,pruner", CELLS)
def test_cell_trains_prunes_saves_and_reloads_the_identical_model(name, pruner, tiny_cfg, tmp_path):
    cfg = tiny_cfg(*SMALL, *TINY_MODELS[name], f"pruner={pruner}", "pruner.sparsity=0.5")
    record = run_cell(cfg, tmp_path / "out").as_dict()
    assert record["status"] == "finished" and record["history"]
    assert record["model"]["params_after"] < record["model"]["params_before"]
    cpu = torch.device("cpu")
    ident = cell_identity(cfg, 1)
    # The same pruning again, in memory, from the cached baseline...
    saved = torch.load(tmp_path / "cache" / "baselines" / ident.baseline / "model.pt", weights_only=True)
    expected = image.dense_model(cfg, cpu)
    expected.load_state_dict(saved["state_dict"])
    pruning.prune(expected, image.pruning_spec(cfg, expected), cfg.seed.prune)
    # ...equals the pruned stage the suite rebuilds from its storage (dense model + history + weights).
    reloaded = stages.pruned(cfg, ident, image.pruning_spec(cfg, expected), None, {}, cpu).model
    want, got = expected.state_dict(), reloaded.state_dict()
    assert list(got) == list(want)
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert _heads(reloaded) == _heads(expected)
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(reloaded.eval()(x), expected.eval()(x))


@pytest.mark.parametrize("pruner", ["random", "taylor", "random_unstructured"])
@pytest.mark.parametrize("name", sorted(TINY_CONFS))
def test_every_pruner_shrinks_every_new_model(name, pruner):
    model = build_model(TINY_CONFS[name], 10)
    dense = count_params(model)
    images, labels = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    spec = pruning.resolve(PrunerConf(name=pruner, ratio=0.5, sparsity=0.5), TINY_CONFS[name].name)
    pruning.prune(model, spec, seed=0, batches=lambda: [(images, labels)])
    assert model(images).shape == (8, 10)
    assert count_params(model) < 0.8 * dense


def test_pruned_vit_loses_whole_heads_and_keeps_its_embedding():
    dense = build_model(ViTConf(width=0.5, depth=2), 10)  # 6 heads of width 16, embedding 96
    model = build_model(ViTConf(width=0.5, depth=2), 10)
    model.load_state_dict(dense.state_dict())
    pruning.prune(model, pruning.resolve(PrunerConf(name="l1", ratio=0.5), "vit"), seed=0)
    for before, after in zip(dense.net.blocks, model.net.blocks):
        head_dim, heads = before.attn.head_dim, before.attn.num_heads
        assert after.attn.head_dim == head_dim and after.attn.num_heads == heads // 2
        # Which dense qkv rows survived: each surviving row equals exactly one dense row.
        rows = before.attn.qkv.weight
        kept = [int((rows == row).all(dim=1).nonzero()) for row in after.attn.qkv.weight]
        per_part = [sorted({(i - part * heads * head_dim) // head_dim for i in kept
                            if part * heads * head_dim <= i < (part + 1) * heads * head_dim}) for part in range(3)]
        assert per_part[0] == per_part[1] == per_part[2] and len(per_part[0]) == heads // 2  # same heads in q, k, v
        assert len(kept) == 3 * len(per_part[0]) * head_dim  # and every dimension of each kept head
        assert after.attn.proj.in_features == len(per_part[0]) * head_dim
        assert after.mlp.fc1.out_features == before.mlp.fc1.out_features // 2
    assert model.net.patch_embed.proj.out_channels == dense.net.patch_embed.proj.out_channels
