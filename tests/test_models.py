"""Architectures and their counts against paper.md's unpruned rows."""

from __future__ import annotations

import pytest
import torch

from benchmark.errors import ConfigError
from benchmark.models import build_model
from benchmark.models.schema import ModelConf
from benchmark.pruning.counting import count_macs, count_params

# paper.md: params (M) and FLOPs (M multiply-accumulates), CIFAR-10, rounded as published.
PAPER = {"resnet56": (0.853, 125.5), "resnet110": (1.728, 252.9), "vgg16": (14.99, 313.5)}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_unpruned_counts_equal_the_paper(name):
    model = build_model(ModelConf(name=name, width=1.0), 10)
    params, flops = PAPER[name]
    digits = len(str(params).split(".")[1])
    assert round(count_params(model) / 1e6, digits) == params
    assert round(count_macs(model) / 1e6, 1) == flops


@pytest.mark.parametrize("name", ["resnet20", "resnet32", "resnet56", "vgg16"])
def test_models_map_cifar_images_to_class_logits(name):
    model = build_model(ModelConf(name=name, width=0.25), 100)
    model.eval()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 100)


def test_width_multiplier_shrinks_params_about_quadratically():
    full = count_params(build_model(ModelConf(name="resnet56", width=1.0), 10))
    half = count_params(build_model(ModelConf(name="resnet56", width=0.5), 10))
    assert 0.2 < half / full < 0.3


def test_resnet_prunable_layer_ids_follow_the_paper_numbering():
    model = build_model(ModelConf(name="resnet56", width=1.0), 10)
    convs = model.prunable_convs()
    ids = [layer_id for layer_id, _, _ in convs]
    assert ids == list(range(2, 56, 2))  # block k's first conv is layer 2k; 27 blocks
    stages = {layer_id: stage for layer_id, stage, _ in convs}
    # paper.md: stage boundaries by layer id for ResNet-56: <=18, <=36, rest.
    assert stages[18] == 0 and stages[20] == 1 and stages[36] == 1 and stages[38] == 2
    assert all(conv is block.conv1 for (_, _, conv), block in zip(convs, [*model.layer1, *model.layer2, *model.layer3]))


def test_unknown_model_is_a_one_line_error():
    with pytest.raises(ConfigError, match="resnet56"):
        build_model(ModelConf(name="resnet57", width=1.0), 10)
