"""The issue-15 architectures: sizes against published figures and the libraries' own counts."""

from __future__ import annotations

import pytest
import torch
import torch_pruning as tp
import torchvision
from omegaconf import OmegaConf
from torch import nn

from benchmark.cell import validate
from benchmark.models import build_model, default_model_conf
from benchmark.models.preresnet import PreResNet
from benchmark.models.schema import MobileNetV2Conf, ModelConf, ViTConf
from benchmark.pruning.counting import count_macs, count_params
from tests.conftest import CONF, compose_config


def weight_params(model: nn.Module) -> int:
    """Parameters of convs and linear layers only: HRank's counter (lmbxmu/HRank get_flops.py,
    ``measure_layer``) skips BatchNorm."""
    return sum(p.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) for p in m.parameters())


def within(value: float, published: float, tolerance: float = 0.01) -> bool:
    return abs(value - published) <= tolerance * published


def test_densenet40_matches_hrank():
    # lmbxmu/HRank README: DenseNet-40 on CIFAR-10, 1.04M params and 282.00M FLOPs (MACs;
    # its pruned row, 0.66M (36.5% fewer) and 167.41M (40.8% fewer), implies the same).
    model = build_model(ModelConf(name="densenet40"), 10)
    assert within(weight_params(model), 1.04e6)
    assert within(count_macs(model), 282.00e6)


def test_vgg19_matches_network_slimming():
    # Liu et al., "Learning Efficient Convolutional Networks through Network Slimming" (ICCV 2017),
    # Table 1: VGGNet (VGG-19, CIFAR-10) 20.04M params, 7.97e8 FLOPs. Their counter (the study's
    # rethinking-network-pruning count_flops.py) counts a MAC as 2 FLOPs, plus BN/ReLU/pool ops.
    model = build_model(ModelConf(name="vgg19"), 10)
    assert round(count_params(model) / 1e6, 2) == 20.04
    assert within(2 * count_macs(model), 7.97e8)


def test_preresnet_bottleneck_family_matches_network_slimming():
    # The same definition at depth 164: Network Slimming, Table 1, PreResNet-164 (CIFAR-10)
    # 1.70M params and 4.99e8 FLOPs (2 per MAC plus BN/ReLU ops, as above).
    model = PreResNet(164, 10)
    assert round(count_params(model) / 1e6, 2) == 1.70
    assert within(2 * count_macs(model), 4.99e8)


def test_preresnet110_is_nine_n_plus_two_weighted_layers():
    # depth counts the weighted layers on the main path: stem + 3 x 12 blocks x 3 convs + fc.
    model = build_model(ModelConf(name="preresnet110"), 10)
    blocks = [*model.layer1, *model.layer2, *model.layer3]
    assert len(blocks) == 36
    assert 1 + 3 * len(blocks) + 1 == 110
    assert model.fc.in_features == 256  # 64 planes x bottleneck expansion 4


def test_mobilenetv2_at_imagenet_settings_equals_torchvisions_published_count():
    # torchvision's own record of its MobileNetV2 (IMAGENET1K_V1 meta): parameters and GMACs.
    # Strides do not change parameters, so the CIFAR variant's definition is checked here.
    meta = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta
    imagenet = MobileNetV2Conf(setting=[[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                                        [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]], stem_stride=2)
    model = build_model(imagenet, 1000)
    assert count_params(model) == meta["num_params"]
    assert within(count_macs(model, 224) / 1e9, meta["_ops"])


def test_mobilenetv2_counts_agree_with_torch_pruning():
    # Torch-Pruning's own counter, per layer (it also counts BN ops): its conv and linear MACs
    # equal ours up to the classifier's bias additions, which it counts and we do not.
    model = build_model(MobileNetV2Conf(), 10)
    _, params, layer_macs, _ = tp.utils.count_ops_and_params(model, torch.zeros(1, 3, 32, 32), layer_wise=True)
    weighted = sum(v for m, v in layer_macs.items() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert count_params(model) == params
    assert weighted - count_macs(model) == 10


def test_vit_counts_agree_with_torch_pruning():
    # Torch-Pruning's counter adds LayerNorm/GELU/softmax ops to the matmuls: within 1%.
    model = build_model(ViTConf(), 10)
    macs, params = tp.utils.count_ops_and_params(model, torch.zeros(1, 3, 32, 32))
    assert count_params(model) == params
    assert within(count_macs(model), macs)


def test_vit_counts_equal_the_closed_form():
    # d = 192, hidden h = 384, 65 tokens (64 patches of 4x4 + class token), 9 blocks, 10 classes.
    d, h, n, blocks, c = 192, 384, 65, 9, 10
    block_params = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * h + h) + (h * d + d)
    params = (3 * 16 * d + d) + d + n * d + blocks * block_params + 2 * d + (d * c + c)
    macs = 64 * 48 * d + blocks * (n * (4 * d * d + 2 * d * h) + 2 * n * n * d) + d * c
    model = build_model(ViTConf(), c)
    assert count_params(model) == params
    assert count_macs(model) == macs  # attention's two matmuls included


@pytest.mark.parametrize("name", ["vgg19", "preresnet110", "densenet40", "mobilenetv2", "vit"])
def test_new_models_map_cifar_images_to_class_logits(name):
    cfg = {"mobilenetv2": MobileNetV2Conf(width=0.25), "vit": ViTConf(width=0.25, depth=2)}.get(
        name, ModelConf(name=name, width=0.25))
    model = build_model(cfg, 100).eval()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 100)


def test_vit_configuration_is_data():
    cfg = compose_config(["model=vit", "model.depth=3", "model.num_heads=4", "model.embed_dim=64"])
    model = build_model(cfg.model, 10)
    assert len(model.net.blocks) == 3 and model.net.blocks[0].attn.num_heads == 4
    assert model.net.patch_embed.proj.kernel_size == (4, 4) and model.net.patch_embed.proj.out_channels == 64


def test_mwp_cifar10_all_sweeps_the_studys_five_weight_pruning_models():
    params = OmegaConf.load(CONF / "experiment" / "mwp_cifar10_all.yaml").hydra.sweeper.params
    # paper.md: ResNet-56/110 plus VGG-19, PreResNet-110 and DenseNet-40 for weight pruning.
    assert params["model"].split(",") == ["resnet56", "resnet110", "vgg19", "preresnet110", "densenet40"]
    assert params["schedule"] == "ft,lrw,slr,clr" and params["seed.retrain"] == "0,1,2"


@pytest.mark.parametrize("model,optimizer", [("mobilenetv2", "sgd"), ("vit", "adamw")])
def test_modern_cifar10_trains_each_model_by_its_own_recipe(model, optimizer):
    params = OmegaConf.load(CONF / "experiment" / "modern_cifar10.yaml").hydra.sweeper.params
    assert params["model"] == "mobilenetv2,vit" and params["schedule"] == "ft,lrw,slr,clr"
    for pruner in params["pruner.name"].split(","):
        cfg = compose_config(["+experiment=modern_cifar10", f"model={model}", f"pruner.name={pruner}"])
        assert (cfg.model.name, cfg.recipe.optimizer, cfg.recipe.shape) == (model, optimizer, "cosine")
        assert validate(cfg) == cfg.recipe.epochs // 4


@pytest.mark.parametrize("name", ["vgg19", "preresnet110", "densenet40", "mobilenetv2", "vit"])
def test_model_yaml_equals_the_defaults_code_builds_without_hydra(name):
    # make bench builds models from default_model_conf; the YAML option must describe the same model.
    assert compose_config([f"model={name}"]).model == default_model_conf(name)
