"""ImageNet path on a tiny generated ImageFolder: torchvision ResNets, transforms, a whole cell."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from benchmark.cell import run_cell
from benchmark.errors import ConfigError
from benchmark.models.schema import ModelConf
from benchmark.plan import plan_cell
from tests.conftest import compose_config

SMALL = ["dataset=imagenet", "dataset.num_classes=3", "dataset.image_size=32", "dataset.workers=0",
         "recipe=imagenet", "recipe.epochs=1", "recipe.milestones=[]", "recipe.batch_size=8", "budget.epochs=1",
         "wandb.mode=disabled", "progress=off", "device=cpu", "latency.repeats=0"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """train/ and val/ with 3 classes of 48x40 RGB images whose colour says the class."""
    root = tmp_path_factory.mktemp("imagefolder")
    g = torch.Generator().manual_seed(0)
    for split, count in (("train", 12), ("val", 4)):
        for c in range(3):
            (root / split / f"class{c}").mkdir(parents=True)
            for i in range(count):
                pixels = torch.randint(0, 80, (40, 48, 3), generator=g, dtype=torch.uint8)
                pixels[..., c] += 150
                Image.fromarray(pixels.numpy()).save(root / split / f"class{c}" / f"{i}.png")
    return root


def test_imagenet_recipe_is_the_papers():
    cfg = compose_config(["dataset=imagenet", "recipe=imagenet", "model=resnet50"])
    assert (cfg.recipe.epochs, cfg.recipe.batch_size, list(cfg.recipe.milestones)) == (90, 256, [30, 60])
    assert cfg.dataset.image_size == 224 and cfg.dataset.num_classes == 1000


@pytest.mark.parametrize("name,params", [("resnet18", 11.69e6), ("resnet34", 21.80e6), ("resnet50", 25.56e6)])
def test_torchvision_resnets_have_their_published_sizes(name, params):

    from benchmark.models import build_model
    from benchmark.pruning.counting import count_params

    model = build_model(ModelConf(name=name, width=1.0, pretrained=False), 1000)
    assert count_params(model) == pytest.approx(params, rel=0.002)
    convs = model.prunable_convs()
    assert len(convs) == {"resnet18": 8, "resnet34": 16, "resnet50": 32}[name]


def test_resnet50_pruning_keeps_residual_shapes(folder):
    plan = plan_cell(compose_config([*SMALL, f"dataset.root={folder}", "model=resnet50", "pruner=l1",
                                     "pruner.ratio=0.5"]))
    assert 0.3 < plan["params_reduction_pct"] / 100 < 0.6
    assert plan["steps_per_epoch"] == 36 // 8 + 1  # 36 training images, batch 8


@pytest.mark.cell
def test_a_cell_trains_on_an_imagefolder(folder, tmp_path):
    cfg = compose_config([*SMALL, f"dataset.root={folder}", "model=resnet18", "pruner=l1", "pruner.ratio=0.5",
                          "schedule=clr", f"paths.cache={tmp_path / 'cache'}"])
    record = run_cell(cfg, tmp_path / "out").as_dict()
    assert record["status"] == "finished"
    assert record["steps_per_epoch"] == 5
    assert record["model"]["params_after"] < record["model"]["params_before"]
    assert 0.0 <= record["metrics"]["test_top1"] <= 100.0


def test_missing_imagefolder_and_missing_pretrained_weights_are_one_line_errors(folder, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="nowhere/train"):
        plan_cell(compose_config([*SMALL, f"dataset.root={tmp_path / 'nowhere'}", "model=resnet18"]))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    with pytest.raises(ConfigError, match="pretrained weights for resnet18 not found") as info:
        plan_cell(compose_config([*SMALL, f"dataset.root={folder}", "dataset.num_classes=1000", "model=resnet18",
                                  "model.pretrained=true"]))
    assert str(tmp_path / "torch-home") in str(info.value) and "\n" not in str(info.value)


def test_pretrained_weights_from_the_local_cache_become_the_baseline(folder, tmp_path, monkeypatch):
    """A checkpoint placed where torchvision keeps it is loaded, not trained over."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    path.parent.mkdir(parents=True)
    reference = torchvision.models.resnet18(num_classes=1000)
    torch.save(reference.state_dict(), path)
    cfg = compose_config([*SMALL, f"dataset.root={folder}", "dataset.num_classes=1000", "model=resnet18",
                          "model.pretrained=true", "pruner=none", "schedule=ft", f"paths.cache={tmp_path / 'c'}"])
    from benchmark.tasks.image import dense_model

    model = dense_model(cfg, torch.device("cpu"))
    for a, b in zip(model.net.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("variant,reduction", [("E", 31.9), ("F", 50.6)])
def test_resnet18_variants_match_the_papers_parameter_reductions(variant, reduction):
    """paper.md, "L1 + CLR against DCP": ResNet-18 L1 + CLR at 31.9% and 50.6% fewer parameters."""

    from benchmark import pruning
    from benchmark.models import build_model
    from benchmark.pruning.counting import count_params

    model = build_model(ModelConf(name="resnet18", pretrained=False), 1000)
    dense = count_params(model)
    spec = pruning.resolve(compose_config(["model=resnet18", f"pruner.variant={variant}"]).pruner, "resnet18")
    pruning.prune(model, spec, seed=0, image_size=64)
    assert 100 * (1 - count_params(model) / dense) == pytest.approx(reduction, abs=0.05)


@pytest.mark.parametrize("name,variants", [("resnet34", "B, C, D"), ("resnet18", "C, D, E, F, G")])
def test_imagenet_variants_are_listed_per_model(name, variants):
    from benchmark import pruning

    with pytest.raises(ConfigError, match=f"valid: {variants}"):
        pruning.resolve(compose_config([f"model={name}", "pruner.variant=Z"]).pruner, name)
